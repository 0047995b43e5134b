// What the use cases need to know about this deployment (read from the environment by AppConfig).
import { Context, Duration, Layer, Redacted } from "effect"
import { DEFAULT_FALLBACK_AREA_CODES } from "../../domain/areaCodeChain.ts"

export interface SettingsShape {
  /** Public base URL: webhook URLs and the dashboard link are built from it. */
  readonly appUrl: string
  readonly fallbackAreaCodes: ReadonlyArray<string>
  /** What Vapi must send back as `X-Vapi-Secret`. */
  readonly vapiWebhookSecret: Redacted.Redacted<string>
  /** How long one assignment attempt may retry a provider while holding the business lock. */
  readonly inLockRetryBudget: Duration.Duration
  /** When every area code is empty: how often, and how far apart, the whole chain is tried again. */
  readonly stockChurnRetries: number
  readonly stockChurnSpacing: Duration.Duration
  /** How long a purchase or DELETE without a definite answer may still land: nothing is decided on it before. */
  readonly purchaseSettle: Duration.Duration
  /** A cancelled business's number is kept at least this long (then until just before its next monthly bill). */
  readonly releaseMinGrace: Duration.Duration
  /** Owner events kept per business for resuming: at least this many, and every one younger than this. */
  readonly eventHistory: { readonly keepAtLeast: number; readonly keepFor: Duration.Duration }
}

export class Settings extends Context.Service<Settings, SettingsShape>()("numbers/app/Settings") {
  static readonly defaults: SettingsShape = {
    appUrl: "http://localhost:3000",
    fallbackAreaCodes: DEFAULT_FALLBACK_AREA_CODES,
    vapiWebhookSecret: Redacted.make("sandbox-vapi-secret"),
    inLockRetryBudget: Duration.seconds(5),
    stockChurnRetries: 3,
    stockChurnSpacing: Duration.seconds(20),
    purchaseSettle: Duration.seconds(120),
    releaseMinGrace: Duration.hours(72),
    eventHistory: { keepAtLeast: 100, keepFor: Duration.days(7) }
  }

  static readonly layer = (overrides: Partial<SettingsShape> = {}) =>
    Layer.succeed(Settings, Settings.of({ ...Settings.defaults, ...overrides }))
}
