// The service's composition: adapters chosen from the configuration (real providers when their credentials
// are set, sandbox simulations otherwise), on Postgres, with the job queue and cross-instance events.
import { join } from "node:path"
import { Duration, Effect, Layer, Option } from "effect"
import * as LogErrorReporter from "../../adapters/errors/LogErrorReporter.ts"
import * as SentryErrorReporter from "../../adapters/errors/SentryErrorReporter.ts"
import * as FileMailer from "../../adapters/mail/FileMailer.ts"
import * as SmtpMailer from "../../adapters/mail/SmtpMailer.ts"
import * as MemoryAssistant from "../../adapters/memory/MemoryAssistant.ts"
import * as PgBossJobQueue from "../../adapters/postgres/PgBossJobQueue.ts"
import * as PgBroadcaster from "../../adapters/postgres/PgBroadcaster.ts"
import * as PgReadiness from "../../adapters/postgres/PgReadiness.ts"
import * as PgSandboxTelephony from "../../adapters/postgres/PgSandboxTelephony.ts"
import * as PgSentEmails from "../../adapters/postgres/PgSentEmails.ts"
import * as PostgresRepository from "../../adapters/postgres/PostgresRepository.ts"
import * as TwilioTelephony from "../../adapters/twilio/TwilioTelephony.ts"
import * as VapiAssistant from "../../adapters/vapi/VapiAssistant.ts"
import { Settings } from "../usecases/Settings.ts"
import { AppConfig } from "./AppConfig.ts"
import { databaseLayer } from "./database.ts"
import { sandboxTelephony } from "./sandbox.ts"

const settingsLayer = Layer.effect(
  Settings,
  Effect.gen(function* () {
    const config = yield* AppConfig
    return Settings.of({
      ...Settings.defaults,
      appUrl: config.appUrl,
      fallbackAreaCodes: config.fallbackAreaCodes,
      vapiWebhookSecret: config.vapiWebhookSecret,
      purchaseSettle: Duration.seconds(config.purchaseSettleSeconds),
      releaseMinGrace: Duration.hours(config.releaseMinGraceHours),
      eventHistory: { keepAtLeast: config.eventHistoryMin, keepFor: Duration.days(config.eventHistoryDays) }
    })
  })
)

const providersLayer = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const telephony = Option.match(config.twilio, {
      onSome: (credentials) => TwilioTelephony.layer(credentials),
      onNone: () => PgSandboxTelephony.layer(sandboxTelephony)
    })
    if (Option.isNone(config.twilio)) {
      yield* Effect.logWarning(
        "SANDBOX TELEPHONY: no TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN, numbers are simulated (212, its overlays and 415 sold out)"
      )
    }
    if (Option.isNone(config.vapi))
      yield* Effect.logWarning("SANDBOX ASSISTANT: no VAPI_API_KEY, Vapi is simulated")
    const assistant = Option.match(config.vapi, {
      onSome: (vapi) => VapiAssistant.layer({ ...vapi, twilio: config.twilio }),
      onNone: () => MemoryAssistant.layer()
    })
    const mailer = Option.match(config.smtpUrl, {
      onSome: (smtpUrl) => SmtpMailer.layer({ smtpUrl, from: config.mailFrom }),
      onNone: () => FileMailer.layer({ directory: join(config.dataDir, "outbox"), from: config.mailFrom })
    }).pipe(Layer.provide(PgSentEmails.layer))
    const reporter = Option.match(config.sentryDsn, {
      onSome: (dsn) => SentryErrorReporter.layer({ dsn }),
      onNone: () => LogErrorReporter.layer
    })
    return Layer.mergeAll(telephony, assistant, mailer, reporter)
  })
)

const coreLayer = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    return Layer.mergeAll(
      PostgresRepository.layer,
      PgBossJobQueue.layer({
        concurrency: config.workerConcurrency,
        ...config.jobTuning,
        instanceId: config.telemetry.instanceId
      }),
      PgBroadcaster.layer,
      PgReadiness.layer
    )
  })
).pipe(Layer.provideMerge(databaseLayer))

/** Every port, configured from the environment. */
export const serviceLayer = Layer.mergeAll(
  providersLayer.pipe(Layer.provide(databaseLayer)),
  settingsLayer
).pipe(Layer.provideMerge(coreLayer))
