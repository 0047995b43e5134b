// The service's configuration, read once from the environment (DESIGN.md section 4). Secrets are Redacted.
import { Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { areaCodeChain, DEFAULT_FALLBACK_AREA_CODES } from "../domain/areaCodeChain.ts"

export type Role = "all" | "web" | "worker"

export interface TwilioCredentials {
  readonly accountSid: string
  readonly authToken: Redacted.Redacted<string>
  readonly apiUrl: string
}

export interface AppConfigShape {
  readonly port: number
  readonly appUrl: string
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly twilio: Option.Option<TwilioCredentials>
  /** What Twilio signs webhooks with: the account's auth token; generated in sandbox (sign test calls with it). */
  readonly twilioWebhookToken: Redacted.Redacted<string>
  readonly vapi: Option.Option<{ readonly apiKey: Redacted.Redacted<string>; readonly apiUrl: string }>
  readonly vapiWebhookSecret: Redacted.Redacted<string>
  readonly smtpUrl: Option.Option<Redacted.Redacted<string>>
  readonly mailFrom: string
  readonly authSecret: Redacted.Redacted<string>
  readonly fallbackAreaCodes: ReadonlyArray<string>
  readonly sentryDsn: Option.Option<Redacted.Redacted<string>>
  readonly workerConcurrency: number
  readonly role: Role
  /** Where local state lives (embedded database, .eml outbox). */
  readonly dataDir: string
  /** Job-queue tuning (defaults suit production; tests shorten them to see retries and dead workers quickly). */
  readonly jobTuning: { readonly heartbeatSeconds?: number; readonly retryDelaySeconds?: number }
  /** True when a provider runs on its simulation: the secrets may then be generated. */
  readonly sandbox: boolean
}

/** Startup stops with this: one line naming the variable and what is wrong with it. */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  message: Schema.String
}) {}

const optionalRedacted = (name: string) =>
  Config.option(Config.Redacted(name)).pipe(
    Config.map(Option.filter((value) => Redacted.value(value).trim() !== ""))
  )

/** `SchemaError(Expected string at ["AUTH_SECRET"])` becomes `AUTH_SECRET is required`. */
const describe = (raw: string): string => {
  const match = /Expected (.*?)\s+at \["([A-Z_]+)"\]/s.exec(raw)
  if (!match) return raw.replaceAll("\n", " ")
  const [, expected, name] = match
  return expected === "string" ? `${name} is required` : `${name} is invalid: expected ${expected}`
}

const generated = () => Redacted.make(crypto.randomUUID().replaceAll("-", ""))

/** Reads and checks the environment; a bad value fails with a ConfigError naming its variable. */
export const loadAppConfig = Effect.gen(function* () {
  const port = yield* Config.Port("PORT").pipe(Config.withDefault(3000))
  const appUrl = (yield* Config.URL("APP_URL").pipe(
    Config.withDefault(new URL(`http://localhost:${port}`))
  )).toString()
  const accountSid = yield* Config.option(Config.NonEmptyString("TWILIO_ACCOUNT_SID"))
  const authToken = yield* optionalRedacted("TWILIO_AUTH_TOKEN")
  if (Option.isSome(accountSid) !== Option.isSome(authToken)) {
    return yield* Effect.fail(
      new InvalidConfig({
        message:
          "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set together (or neither, for sandbox telephony)"
      })
    )
  }
  const twilioApiUrl = (yield* Config.URL("TWILIO_API_URL").pipe(
    Config.withDefault(new URL("https://api.twilio.com"))
  )).toString()
  const vapiKey = yield* optionalRedacted("VAPI_API_KEY")
  const vapiApiUrl = (yield* Config.URL("VAPI_API_URL").pipe(
    Config.withDefault(new URL("https://api.vapi.ai"))
  )).toString()
  const sandbox = Option.isNone(accountSid) || Option.isNone(vapiKey)
  const live = Option.isSome(accountSid) || Option.isSome(vapiKey)
  // With a real provider the secrets are shared with it (and between instances): they must be given.
  const secret = (name: string) =>
    live ? Config.Redacted(name) : optionalRedacted(name).pipe(Config.map(Option.getOrElse(generated)))
  const vapiWebhookSecret = yield* secret("VAPI_WEBHOOK_SECRET")
  const authSecret = yield* secret("AUTH_SECRET")
  const fallbackRaw = yield* Config.String("FALLBACK_AREA_CODES").pipe(
    Config.withDefault(DEFAULT_FALLBACK_AREA_CODES.join(","))
  )
  const fallbackAreaCodes = fallbackRaw
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "")
  if (areaCodeChain(null, fallbackAreaCodes).length !== fallbackAreaCodes.length) {
    return yield* Effect.fail(
      new InvalidConfig({
        message: `FALLBACK_AREA_CODES must be a comma list of area codes like 415,510,650 (got "${fallbackRaw}")`
      })
    )
  }
  return {
    port,
    appUrl,
    databaseUrl: yield* optionalRedacted("DATABASE_URL"),
    twilio: Option.all({ accountSid, authToken }).pipe(Option.map((c) => ({ ...c, apiUrl: twilioApiUrl }))),
    twilioWebhookToken: Option.getOrElse(authToken, generated),
    vapi: Option.map(vapiKey, (apiKey) => ({ apiKey, apiUrl: vapiApiUrl })),
    vapiWebhookSecret,
    smtpUrl: yield* optionalRedacted("SMTP_URL"),
    mailFrom: yield* Config.String("MAIL_FROM").pipe(Config.withDefault("Numbers <no-reply@localhost>")),
    authSecret,
    fallbackAreaCodes,
    sentryDsn: yield* optionalRedacted("SENTRY_DSN"),
    workerConcurrency: yield* Config.Int("WORKER_CONCURRENCY").pipe(Config.withDefault(8)),
    role: yield* Config.Literals(["all", "web", "worker"], "ROLE").pipe(Config.withDefault("all" as const)),
    dataDir: yield* Config.String("DATA_DIR").pipe(Config.withDefault(".data")),
    jobTuning: {
      ...Option.match(yield* Config.option(Config.Int("JOB_HEARTBEAT_SECONDS")), {
        onNone: () => ({}),
        onSome: (heartbeatSeconds) => ({ heartbeatSeconds })
      }),
      ...Option.match(yield* Config.option(Config.Int("JOB_RETRY_DELAY_SECONDS")), {
        onNone: () => ({}),
        onSome: (retryDelaySeconds) => ({ retryDelaySeconds })
      })
    },
    sandbox
  } satisfies AppConfigShape
}).pipe(
  Effect.catchTag("ConfigError", (error) =>
    Effect.fail(new InvalidConfig({ message: describe(error.message) }))
  )
)

export class AppConfig extends Context.Service<AppConfig, AppConfigShape>()("numbers/app/AppConfig") {
  static readonly layer = Layer.effect(AppConfig, loadAppConfig)
}
