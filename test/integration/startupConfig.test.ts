// Missing or malformed configuration stops startup with one line naming the variable (and no secret), exit
// code 1 and no stack trace; good configuration, sandbox or with real Twilio credentials, still starts.
import { Effect, ManagedRuntime, Redacted } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { DatabaseUrl } from "../../src/adapters/postgres/Database.ts"
import { freshDatabaseUrl } from "../support/database.ts"
import { startFakeTwilio } from "../support/fakeTwilio.ts"
import { freePort, spawnService, untilReady } from "../support/processes.ts"

/** Real-looking Twilio credentials with the secrets they require. */
const CREDENTIALS = {
  TWILIO_ACCOUNT_SID: "AC1",
  TWILIO_AUTH_TOKEN: "tok-secret-1",
  VAPI_WEBHOOK_SECRET: "v",
  AUTH_SECRET: "a"
}
/** ... and the public https APP_URL they require. */
const LIVE = { ...CREDENTIALS, APP_URL: "https://numbers.example.test" }
/** A password in SMTP_URL: never printed, even when the URL is malformed. */
const SMTP_SECRET = "smtp-secret-9"

describe("startup configuration", () => {
  it.each<[Record<string, string>, string]>([
    [{ ...LIVE, VAPI_WEBHOOK_SECRET: "" }, "VAPI_WEBHOOK_SECRET is required"],
    [{ ...LIVE, AUTH_SECRET: "" }, "AUTH_SECRET is required"],
    [{ TWILIO_ACCOUNT_SID: "AC1" }, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set together"],
    [{ PORT: "eighty" }, "PORT is invalid: expected an integer from 1 to 65535"],
    [{ PORT: "0" }, "PORT is invalid: expected an integer from 1 to 65535"],
    [{ PORT: "65536" }, "PORT is invalid: expected an integer from 1 to 65535"],
    [{ ROLE: "boss" }, "ROLE is invalid"],
    [{ FALLBACK_AREA_CODES: "415,911" }, "FALLBACK_AREA_CODES must be a comma list"],
    // Real Twilio credentials buy real numbers: their voice URL must be one Twilio can reach.
    [CREDENTIALS, "APP_URL is required with real Twilio credentials"],
    [{ ...LIVE, APP_URL: "" }, "APP_URL is required with real Twilio credentials"],
    [
      { ...LIVE, APP_URL: "http://numbers.example.test" },
      "APP_URL is invalid: expected https://, got http://"
    ],
    [{ ...LIVE, APP_URL: "https://localhost:3000" }, "APP_URL is invalid: localhost is a loopback host"],
    [{ ...LIVE, APP_URL: "https://127.0.0.1:3000" }, "APP_URL is invalid: 127.0.0.1 is a loopback address"],
    [{ ...LIVE, APP_URL: "https://10.0.0.7" }, "APP_URL is invalid: 10.0.0.7 is a private address"],
    [{ ...LIVE, APP_URL: "https://[::1]:3000" }, "APP_URL is invalid: [::1] is a loopback address"],
    [{ ...LIVE, APP_URL: "https://[fd00::7]" }, "APP_URL is invalid: [fd00::7] is a private address"],
    [
      { ...LIVE, APP_URL: "https://numbers.local" },
      "APP_URL is invalid: numbers.local is a .local (mDNS) name"
    ],
    [{ ...LIVE, APP_URL: "numbers.example.test" }, "APP_URL is invalid: expected a valid URL"],
    [{ WORKER_CONCURRENCY: "0" }, "WORKER_CONCURRENCY is invalid: expected an integer from 1 to 1000"],
    [{ WORKER_CONCURRENCY: "1001" }, "WORKER_CONCURRENCY is invalid: expected an integer from 1 to 1000"],
    [{ WORKER_CONCURRENCY: "eight" }, "WORKER_CONCURRENCY is invalid: expected an integer from 1 to 1000"],
    [{ WORKER_CONCURRENCY: "2.5" }, "WORKER_CONCURRENCY is invalid: expected an integer from 1 to 1000"],
    [{ JOB_HEARTBEAT_SECONDS: "0" }, "JOB_HEARTBEAT_SECONDS is invalid: expected an integer from 10 to 300"],
    [{ JOB_HEARTBEAT_SECONDS: "5" }, "JOB_HEARTBEAT_SECONDS is invalid: expected an integer from 10 to 300"],
    [
      { JOB_RETRY_DELAY_SECONDS: "-1" },
      "JOB_RETRY_DELAY_SECONDS is invalid: expected an integer from 1 to 600"
    ],
    [{ JOB_RETRY_DELAY_SECONDS: "soon" }, "JOB_RETRY_DELAY_SECONDS is invalid: expected an integer from 1"],
    [{ PURCHASE_SETTLE_SECONDS: "0" }, "PURCHASE_SETTLE_SECONDS is invalid: expected a positive integer"],
    [{ PURCHASE_SETTLE_SECONDS: "1e3x" }, "PURCHASE_SETTLE_SECONDS is invalid: expected a positive integer"],
    [{ SMTP_URL: `smtp://user:${SMTP_SECRET}@mail.example.com:port` }, "SMTP_URL is invalid"],
    [{ SMTP_URL: `https://user:${SMTP_SECRET}@mail.example.com` }, "SMTP_URL is invalid"],
    [{ SMTP_URL: `user:${SMTP_SECRET}@mail.example.com:587` }, "SMTP_URL is invalid"],
    [{ SMTP_URL: `smtp://us%zz:${SMTP_SECRET}@mail.example.com` }, "SMTP_URL is invalid"],
    [
      { LOG_LEVEL: "loud" },
      "LOG_LEVEL is invalid: expected one of trace, debug, info, warn, error, fatal, none"
    ],
    [{ LOG_FORMAT: "xml" }, "LOG_FORMAT is invalid: expected json or pretty"],
    [
      { OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" },
      "OTEL_EXPORTER_OTLP_PROTOCOL is invalid: expected http/protobuf or http/json (grpc is not supported)"
    ],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT is invalid"],
    [{ EVENT_HISTORY_MIN: "0" }, "EVENT_HISTORY_MIN is invalid: expected an integer from 1 to 100000"],
    [{ EVENT_HISTORY_DAYS: "a week" }, "EVENT_HISTORY_DAYS is invalid"],
    [
      { RELEASE_MIN_GRACE_HOURS: "-1" },
      "RELEASE_MIN_GRACE_HOURS is invalid: expected an integer from 0 to 8760"
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318", OTEL_EXPORTER_OTLP_HEADERS: "api-key" },
      "OTEL_EXPORTER_OTLP_HEADERS is invalid: expected comma-separated key=value pairs"
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318", OTEL_EXPORTER_OTLP_HEADERS: "api-key=s3cr%zz" },
      "OTEL_EXPORTER_OTLP_HEADERS is invalid"
    ],
    [{ OTEL_TRACES_SAMPLER: "ratio" }, "OTEL_TRACES_SAMPLER is invalid: expected one of always_on"],
    [
      { OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "10%" },
      "OTEL_TRACES_SAMPLER_ARG is invalid: expected a ratio from 0 to 1"
    ]
  ])("%j stops with: %s", { timeout: 30_000 }, async (env, line) => {
    const service = spawnService({ DATABASE_URL: "postgres://127.0.0.1:1/none", ...env })
    expect(await service.exited).toBe(1)
    const output = service.output()
    const lines = output.trim().split("\n")
    expect(lines, output).toHaveLength(1)
    expect(lines[0]).toMatch(/^numbers: configuration: /)
    expect(output).toContain(`numbers: configuration: ${line}`)
    expect(output).not.toContain("tok-secret-1")
    expect(output).not.toContain(SMTP_SECRET)
    expect(output).not.toContain("s3cr")
  })

  describe("good configuration starts", () => {
    const twilio = startFakeTwilio()
    const database = ManagedRuntime.make(freshDatabaseUrl)
    afterAll(async () => {
      await database.dispose()
      twilio.stop()
    })
    const databaseUrl = () =>
      database.runPromise(DatabaseUrl.use((url) => Effect.succeed(Redacted.value(url))))

    it.each<[string, Record<string, string>]>([
      ["sandbox on a loopback http APP_URL", { APP_URL: "http://localhost:3000" }],
      [
        "real Twilio credentials on a public https APP_URL, every number at its bound",
        {
          ...LIVE,
          ...twilio.env,
          APP_URL: "https://numbers.example.test/prefix",
          SMTP_URL: `smtps://user:${SMTP_SECRET}@127.0.0.1:1`,
          WORKER_CONCURRENCY: "1",
          JOB_HEARTBEAT_SECONDS: "10",
          JOB_RETRY_DELAY_SECONDS: "600",
          PURCHASE_SETTLE_SECONDS: "1"
        }
      ]
    ])("%s", { timeout: 60_000 }, async (_, env) => {
      const port = freePort()
      const service = spawnService({ PORT: String(port), DATABASE_URL: await databaseUrl(), ...env })
      await untilReady(`http://127.0.0.1:${port}`)
      expect(service.output()).not.toContain("numbers: configuration:")
      expect(await service.kill("SIGTERM"), service.output()).toBe(0)
    })
  })
})
