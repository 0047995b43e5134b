// The service's configuration, read once from the environment (every variable, with its default, is in
// env.example). Secrets are Redacted. A bad value stops startup with one line naming the variable.
import { hostname } from "node:os"
import { Config, Context, Effect, Layer, type LogLevel, Option, Redacted, Schema } from "effect"
import { DEFAULT_FALLBACK_AREA_CODES, isFallbackEntry } from "../../domain/areaCodeChain.ts"
import { publicHttpsUrlProblem } from "../../domain/publicUrl.ts"
import { SANDBOX_FALLBACK_AREA_CODES } from "./sandbox.ts"

export type Role = "all" | "web" | "worker"

export type LogFormat = "json" | "pretty"
export type OtlpProtocol = "http/protobuf" | "http/json"

/** Traces, logs and the identity metrics carry. */
export interface TelemetryConfig {
  /** OTEL_SERVICE_NAME: the `service.name` of exported spans. */
  readonly serviceName: string
  /** This process, among the instances: host and pid (`service.instance.id`, the `instance` label). */
  readonly instanceId: string
  /** Where spans go (OTLP over HTTP), when OTEL_EXPORTER_OTLP_ENDPOINT is set. */
  readonly otlp: Option.Option<{
    readonly tracesUrl: string
    readonly protocol: OtlpProtocol
    /** OTEL_EXPORTER_OTLP_HEADERS: sent with every export (a collector's API key, often). */
    readonly headers: Redacted.Redacted<Readonly<Record<string, string>>>
  }>
  /** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG: which traces are exported. */
  readonly sampler: TraceSampler
  readonly logFormat: LogFormat
  readonly logLevel: LogLevel.LogLevel
}

/**
 * Head sampling, as OpenTelemetry names it: a trace begun here is exported with probability `ratio` (every
 * span of it, or none); `parentBased`: a caller's decision (its traceparent's sampled flag) is followed.
 */
export interface TraceSampler {
  readonly parentBased: boolean
  readonly ratio: number
}

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
  /** How long a purchase or DELETE without a definite answer may still land (default 120 s). */
  readonly purchaseSettleSeconds: number
  /** A cancelled business's number is kept at least this long before it is released (default 72 h). */
  readonly releaseMinGraceHours: number
  /** Owner events kept per business for resuming: at least EVENT_HISTORY_MIN (100), and EVENT_HISTORY_DAYS (7) days. */
  readonly eventHistoryMin: number
  readonly eventHistoryDays: number
  /** True when a provider runs on its simulation: the secrets may then be generated. */
  readonly sandbox: boolean
  readonly telemetry: TelemetryConfig
}

/** Startup stops with this: one line naming the variable and what is wrong with it. */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  message: Schema.String
}) {}

const optionalRedacted = (name: string) =>
  Config.option(Config.Redacted(name)).pipe(
    Config.map(Option.filter((value) => Redacted.value(value).trim() !== ""))
  )

interface Bounds {
  readonly min: number
  readonly max?: number
}

/** The numeric variables and their bounds (inclusive; no max: any safe integer from min). */
const INTEGERS = {
  PORT: { min: 1, max: 65_535 },
  WORKER_CONCURRENCY: { min: 1, max: 1000 },
  // pg-boss refuses heartbeats under 10 s; a job expires after 300 s whatever its heartbeat.
  JOB_HEARTBEAT_SECONDS: { min: 10, max: 300 },
  // The first retry waits no longer than the backoff's cap (600 s).
  JOB_RETRY_DELAY_SECONDS: { min: 1, max: 600 },
  PURCHASE_SETTLE_SECONDS: { min: 1 },
  // At most a year: a longer grace would keep paying for a number nobody uses.
  RELEASE_MIN_GRACE_HOURS: { min: 0, max: 8_760 },
  EVENT_HISTORY_MIN: { min: 1, max: 100_000 },
  EVENT_HISTORY_DAYS: { min: 0, max: 3_650 }
} as const satisfies Record<string, Bounds>

const expectedInteger = ({ min, max }: Bounds) =>
  max !== undefined
    ? `an integer from ${min} to ${max}`
    : min === 1
      ? "a positive integer"
      : `an integer of at least ${min}`

/** One of INTEGERS: a whole number within its bounds. */
const integer = (name: keyof typeof INTEGERS) => {
  const { min, max }: Bounds = INTEGERS[name]
  return Config.schema(
    Schema.Int.check(
      max === undefined
        ? Schema.isGreaterThanOrEqualTo(min)
        : Schema.isBetween({ minimum: min, maximum: max })
    ),
    name
  )
}

/**
 * `SchemaError(Expected string at ["AUTH_SECRET"])` becomes `AUTH_SECRET is required`; a bad number, whatever
 * is wrong with it, `PORT is invalid: expected an integer from 1 to 65535`. Schema errors never carry the value.
 */
const describe = (raw: string): string => {
  const match = /Expected (.*?)\s+at \["([A-Z_]+)"\]/s.exec(raw)
  if (!match) return raw.replaceAll("\n", " ")
  const [, expected = "", name = ""] = match
  if (expected === "string") return `${name} is required`
  const bounds = (INTEGERS as Record<string, Bounds | undefined>)[name]
  return `${name} is invalid: expected ${bounds ? expectedInteger(bounds) : expected.replaceAll("\n", " ")}`
}

const decodes = (component: string) => {
  try {
    decodeURIComponent(component)
    return true
  } catch {
    return false
  }
}

/** What the SMTP mailer can use: smtp:// or smtps://, a host, and user and password that decode. */
const isSmtpUrl = (value: string) => {
  const url = URL.parse(value)
  return (
    url !== null &&
    (url.protocol === "smtp:" || url.protocol === "smtps:") &&
    url.hostname !== "" &&
    decodes(url.username) &&
    decodes(url.password)
  )
}

const generated = () => Redacted.make(crypto.randomUUID().replaceAll("-", ""))

const LOG_LEVELS: Readonly<Record<string, LogLevel.LogLevel>> = {
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  error: "Error",
  fatal: "Fatal",
  none: "None"
}

/** An optional variable, blank meaning unset (as OpenTelemetry reads its variables). */
const optionalString = (name: string) =>
  Config.option(Config.String(name)).pipe(Config.map(Option.filter((value) => value.trim() !== "")))

const invalid = (message: string) => Effect.fail(new InvalidConfig({ message }))

/** OpenTelemetry's rule for OTEL_EXPORTER_OTLP_ENDPOINT: a base URL, under which spans go to `/v1/traces`. */
const tracesUrlOf = (endpoint: string) => {
  const url = URL.parse(endpoint.trim())
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) return undefined
  url.search = ""
  url.hash = ""
  return `${url.href.replace(/\/+$/, "")}/v1/traces`
}

/**
 * OpenTelemetry's format for OTEL_EXPORTER_OTLP_HEADERS: `key=value` pairs joined by commas, values
 * percent-encoded. Undefined when a pair is malformed (the message never repeats a value: it may be a key).
 */
const otlpHeadersOf = (text: string): Record<string, string> | undefined => {
  const headers: Record<string, string> = {}
  for (const pair of text.split(",")) {
    if (pair.trim() === "") continue
    const at = pair.indexOf("=")
    const key = pair.slice(0, at).trim()
    if (at <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) return undefined
    try {
      headers[key.toLowerCase()] = decodeURIComponent(pair.slice(at + 1).trim())
    } catch {
      return undefined
    }
  }
  return headers
}

/** OpenTelemetry's sampler names (SDK environment variables), as ratio and parent-basedness. */
const SAMPLERS: Readonly<Record<string, (ratio: number) => TraceSampler>> = {
  always_on: () => ({ parentBased: false, ratio: 1 }),
  always_off: () => ({ parentBased: false, ratio: 0 }),
  traceidratio: (ratio) => ({ parentBased: false, ratio }),
  parentbased_always_on: () => ({ parentBased: true, ratio: 1 }),
  parentbased_always_off: () => ({ parentBased: true, ratio: 0 }),
  parentbased_traceidratio: (ratio) => ({ parentBased: true, ratio })
}

export const loadSampler = Effect.gen(function* () {
  const name = Option.getOrElse(yield* optionalString("OTEL_TRACES_SAMPLER"), () => "parentbased_always_on")
  const sampler = SAMPLERS[name.trim().toLowerCase()]
  if (sampler === undefined) {
    return yield* invalid(
      `OTEL_TRACES_SAMPLER is invalid: expected one of ${Object.keys(SAMPLERS).join(", ")} (jaeger and xray samplers are not supported)`
    )
  }
  const arg = yield* optionalString("OTEL_TRACES_SAMPLER_ARG")
  const ratio = Option.isSome(arg) ? Number(arg.value.trim()) : 1
  if (!(ratio >= 0 && ratio <= 1)) {
    return yield* invalid("OTEL_TRACES_SAMPLER_ARG is invalid: expected a ratio from 0 to 1, like 0.1")
  }
  return sampler(ratio)
})

const isLogFormat = (value: string): value is LogFormat => value === "json" || value === "pretty"
const isOtlpProtocol = (value: string): value is OtlpProtocol =>
  value === "http/protobuf" || value === "http/json"

/**
 * OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
 * OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (OpenTelemetry's names and defaults, over HTTP only),
 * LOG_FORMAT and LOG_LEVEL.
 */
const loadTelemetry = Effect.gen(function* () {
  const protocol = Option.getOrElse(
    yield* optionalString("OTEL_EXPORTER_OTLP_PROTOCOL"),
    () => "http/protobuf"
  )
  if (!isOtlpProtocol(protocol)) {
    return yield* invalid(
      "OTEL_EXPORTER_OTLP_PROTOCOL is invalid: expected http/protobuf or http/json (grpc is not supported)"
    )
  }
  const endpoint = yield* optionalString("OTEL_EXPORTER_OTLP_ENDPOINT")
  const tracesUrl = Option.map(endpoint, tracesUrlOf)
  if (Option.isSome(tracesUrl) && tracesUrl.value === undefined) {
    return yield* invalid(
      "OTEL_EXPORTER_OTLP_ENDPOINT is invalid: expected the collector's http:// or https:// base URL, like http://localhost:4318"
    )
  }
  const headersText = yield* optionalString("OTEL_EXPORTER_OTLP_HEADERS")
  const headers = Option.isSome(headersText) ? otlpHeadersOf(headersText.value) : {}
  if (headers === undefined) {
    return yield* invalid(
      "OTEL_EXPORTER_OTLP_HEADERS is invalid: expected comma-separated key=value pairs with percent-encoded values, like api-key=abc%20def"
    )
  }
  const format = yield* optionalString("LOG_FORMAT")
  if (Option.isSome(format) && !isLogFormat(format.value)) {
    return yield* invalid("LOG_FORMAT is invalid: expected json or pretty")
  }
  const level = yield* optionalString("LOG_LEVEL")
  const logLevel = Option.isSome(level) ? LOG_LEVELS[level.value.trim().toLowerCase()] : "Info"
  if (logLevel === undefined) {
    return yield* invalid(`LOG_LEVEL is invalid: expected one of ${Object.keys(LOG_LEVELS).join(", ")}`)
  }
  return {
    serviceName: Option.getOrElse(yield* optionalString("OTEL_SERVICE_NAME"), () => "numbers"),
    instanceId: `${hostname()}:${process.pid}`,
    otlp: Option.flatMap(tracesUrl, (url) =>
      url === undefined
        ? Option.none()
        : Option.some({ tracesUrl: url, protocol, headers: Redacted.make(headers) })
    ),
    sampler: yield* loadSampler,
    // Unset: JSON lines for whatever collects a non-terminal stdout, readable lines for a person at one.
    logFormat: Option.getOrElse(Option.filter(format, isLogFormat), () =>
      process.stdout.isTTY ? "pretty" : "json"
    ),
    logLevel
  } satisfies TelemetryConfig
})

/** Reads and checks the environment; a bad value fails with InvalidConfig, one line naming its variable. */
export const loadAppConfig = Effect.gen(function* () {
  const port = yield* integer("PORT").pipe(Config.withDefault(3000))
  const appUrlSet = yield* Config.option(Config.URL("APP_URL"))
  const appUrl = Option.getOrElse(appUrlSet, () => new URL(`http://localhost:${port}`)).toString()
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
  // Real credentials buy real numbers, each with a voice URL on APP_URL: one Twilio cannot reach is money spent
  // on a dead line. So APP_URL must be given, https, and not a loopback, private or local host.
  if (Option.isSome(accountSid)) {
    if (Option.isNone(appUrlSet)) {
      return yield* new InvalidConfig({
        message:
          "APP_URL is required with real Twilio credentials: a bought number's voice webhook is built on it, so it must be a public https:// URL Twilio can reach"
      })
    }
    const problem = publicHttpsUrlProblem(appUrl)
    if (problem !== undefined) {
      return yield* new InvalidConfig({
        message: `APP_URL is invalid: ${problem}; with real Twilio credentials it must be a public https:// URL (Twilio calls a bought number's voice webhook on it)`
      })
    }
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
  // Simulated Twilio shows `nearby` unless told otherwise; a real one keeps to plain area codes by default.
  const fallbackRaw = yield* Config.String("FALLBACK_AREA_CODES").pipe(
    Config.withDefault(
      (Option.isNone(accountSid) ? SANDBOX_FALLBACK_AREA_CODES : DEFAULT_FALLBACK_AREA_CODES).join(",")
    )
  )
  const fallbackAreaCodes = fallbackRaw
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "")
  if (
    !fallbackAreaCodes.every(isFallbackEntry) ||
    new Set(fallbackAreaCodes).size !== fallbackAreaCodes.length
  ) {
    return yield* Effect.fail(
      new InvalidConfig({
        message: `FALLBACK_AREA_CODES must be a comma list of area codes like 415,510,650, each once, and may name nearby (got "${fallbackRaw}")`
      })
    )
  }
  const smtpUrl = yield* optionalRedacted("SMTP_URL")
  if (Option.isSome(smtpUrl) && !isSmtpUrl(Redacted.value(smtpUrl.value))) {
    return yield* new InvalidConfig({
      message:
        "SMTP_URL is invalid: expected smtp://user:password@host:587 or smtps://user:password@host:465, with any reserved character in the user or password percent-encoded (the value is not shown: it may hold a password)"
    })
  }
  return {
    port,
    appUrl,
    databaseUrl: yield* optionalRedacted("DATABASE_URL"),
    twilio: Option.all({ accountSid, authToken }).pipe(Option.map((c) => ({ ...c, apiUrl: twilioApiUrl }))),
    twilioWebhookToken: Option.getOrElse(authToken, generated),
    vapi: Option.map(vapiKey, (apiKey) => ({ apiKey, apiUrl: vapiApiUrl })),
    vapiWebhookSecret,
    smtpUrl,
    mailFrom: yield* Config.String("MAIL_FROM").pipe(Config.withDefault("Numbers <no-reply@localhost>")),
    authSecret,
    fallbackAreaCodes,
    sentryDsn: yield* optionalRedacted("SENTRY_DSN"),
    workerConcurrency: yield* integer("WORKER_CONCURRENCY").pipe(Config.withDefault(8)),
    role: yield* Config.Literals(["all", "web", "worker"], "ROLE").pipe(Config.withDefault("all" as const)),
    dataDir: yield* Config.String("DATA_DIR").pipe(Config.withDefault(".data")),
    jobTuning: {
      ...Option.match(yield* Config.option(integer("JOB_HEARTBEAT_SECONDS")), {
        onNone: () => ({}),
        onSome: (heartbeatSeconds) => ({ heartbeatSeconds })
      }),
      ...Option.match(yield* Config.option(integer("JOB_RETRY_DELAY_SECONDS")), {
        onNone: () => ({}),
        onSome: (retryDelaySeconds) => ({ retryDelaySeconds })
      })
    },
    purchaseSettleSeconds: yield* integer("PURCHASE_SETTLE_SECONDS").pipe(Config.withDefault(120)),
    releaseMinGraceHours: yield* integer("RELEASE_MIN_GRACE_HOURS").pipe(Config.withDefault(72)),
    eventHistoryMin: yield* integer("EVENT_HISTORY_MIN").pipe(Config.withDefault(100)),
    eventHistoryDays: yield* integer("EVENT_HISTORY_DAYS").pipe(Config.withDefault(7)),
    sandbox,
    telemetry: yield* loadTelemetry
  } satisfies AppConfigShape
}).pipe(
  Effect.catchTag("ConfigError", (error) =>
    Effect.fail(new InvalidConfig({ message: describe(error.message) }))
  )
)

export class AppConfig extends Context.Service<AppConfig, AppConfigShape>()("numbers/app/AppConfig") {
  static readonly layer = Layer.effect(AppConfig, loadAppConfig)
}
