// The service's composition: adapters chosen from the configuration (real providers when their credentials
// are set, sandbox simulations otherwise), on Postgres, with the job queue and cross-instance events.
import { Effect, Layer, Option } from "effect"
import * as LogErrorReporter from "../../adapters/errors/LogErrorReporter.ts"
import * as MemoryAssistant from "../../adapters/memory/MemoryAssistant.ts"
import * as MemoryMailer from "../../adapters/memory/MemoryMailer.ts"
import * as MemoryTelephony from "../../adapters/memory/MemoryTelephony.ts"
import * as PgBossJobQueue from "../../adapters/postgres/PgBossJobQueue.ts"
import * as PgBroadcaster from "../../adapters/postgres/PgBroadcaster.ts"
import * as PostgresRepository from "../../adapters/postgres/PostgresRepository.ts"
import * as TwilioTelephony from "../../adapters/twilio/TwilioTelephony.ts"
import { AppConfig } from "../AppConfig.ts"
import { Settings } from "../Settings.ts"
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
      vapiWebhookSecret: config.vapiWebhookSecret
    })
  })
)

const providersLayer = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const telephony = Option.match(config.twilio, {
      onSome: (credentials) => TwilioTelephony.layer(credentials),
      onNone: () => MemoryTelephony.layer(sandboxTelephony)
    })
    if (Option.isNone(config.twilio)) {
      yield* Effect.logWarning(
        "SANDBOX TELEPHONY: no TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN, numbers are simulated (212 and 415 sold out)"
      )
    }
    if (Option.isNone(config.vapi))
      yield* Effect.logWarning("SANDBOX ASSISTANT: no VAPI_API_KEY, Vapi is simulated")
    // The Vapi, SMTP and Sentry adapters arrive with issue #4; until then these run on their simulations.
    return Layer.mergeAll(telephony, MemoryAssistant.layer(), MemoryMailer.layer, LogErrorReporter.layer)
  })
)

const coreLayer = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    return Layer.mergeAll(
      PostgresRepository.layer,
      PgBossJobQueue.layer({ concurrency: config.workerConcurrency, ...config.jobTuning }),
      PgBroadcaster.layer
    )
  })
).pipe(Layer.provideMerge(databaseLayer))

/** Every port, configured from the environment. */
export const serviceLayer = Layer.mergeAll(coreLayer, providersLayer, settingsLayer)
