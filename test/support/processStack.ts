// The test process's own view of a shared database and a shared local Twilio: it converts trials, enqueues,
// runs the program directly, and reads the results, while worker processes do the same work beside it.
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { afterAll } from "vitest"
import * as MemoryAssistant from "../../src/adapters/memory/MemoryAssistant.ts"
import * as MemoryErrorReporter from "../../src/adapters/memory/MemoryErrorReporter.ts"
import * as MemoryMailer from "../../src/adapters/memory/MemoryMailer.ts"
import { DatabaseUrl } from "../../src/adapters/postgres/Database.ts"
import * as PgBossJobQueue from "../../src/adapters/postgres/PgBossJobQueue.ts"
import * as PgBroadcaster from "../../src/adapters/postgres/PgBroadcaster.ts"
import * as PostgresRepository from "../../src/adapters/postgres/PostgresRepository.ts"
import * as TwilioTelephony from "../../src/adapters/twilio/TwilioTelephony.ts"
import { Settings } from "../../src/app/usecases/Settings.ts"
import { testDatabase } from "./database.ts"
import { type FakeTwilio, PUBLIC_APP_URL } from "./fakeTwilio.ts"
import type { ServiceProcess } from "./processes.ts"

export const SECRETS = {
  VAPI_WEBHOOK_SECRET: "process-test-vapi-secret",
  AUTH_SECRET: "process-test-auth-secret"
}

export const processStack = (twilio: FakeTwilio) =>
  ManagedRuntime.make(
    Layer.mergeAll(
      PostgresRepository.layer,
      PgBossJobQueue.layer({ concurrency: 1 }),
      PgBroadcaster.layer
    ).pipe(
      Layer.provideMerge(
        Layer.mergeAll(
          TwilioTelephony.layer({
            accountSid: twilio.accountSid,
            authToken: Redacted.make(twilio.authToken),
            apiUrl: twilio.url
          }),
          MemoryAssistant.layer(),
          MemoryMailer.layer,
          MemoryErrorReporter.layer,
          Settings.layer({ vapiWebhookSecret: Redacted.make(SECRETS.VAPI_WEBHOOK_SECRET) })
        )
      ),
      Layer.provideMerge(testDatabase({ maxConnections: 12 }))
    )
  )

/** The environment of a worker process on the same database and Twilio. */
export const workerEnv = (databaseUrl: string, twilio: FakeTwilio, more: Record<string, string> = {}) => ({
  ROLE: "worker",
  DATABASE_URL: databaseUrl,
  ...twilio.env,
  // The fake's credentials look real: the service needs a public https APP_URL with them (never contacted).
  APP_URL: PUBLIC_APP_URL,
  ...SECRETS,
  WORKER_CONCURRENCY: "8",
  JOB_HEARTBEAT_SECONDS: "10",
  JOB_RETRY_DELAY_SECONDS: "1",
  // Past the slowest purchase the fakes complete late (10.3 s, the chaos runs' "slow"), short enough for tests.
  PURCHASE_SETTLE_SECONDS: "15",
  ...more
})

export const databaseUrlOf = (runtime: ManagedRuntime.ManagedRuntime<DatabaseUrl, unknown>) =>
  runtime.runPromise(DatabaseUrl.use((url) => Effect.succeed(Redacted.value(url))))

/**
 * A shared local Twilio, the test process's stack on a fresh database, and the worker processes a test
 * starts, all torn down after the suite.
 */
export const workerHarness = (twilio: FakeTwilio) => {
  const runtime = processStack(twilio)
  const workers: Array<ServiceProcess> = []
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill("SIGKILL")))
    await runtime.dispose()
    twilio.stop()
  })
  return { twilio, runtime, workers }
}

/**
 * The service as processes on a fresh database beside local providers: the processes a suite starts (push them
 * to `services`), the database, and the providers (`stop()`), all torn down after the suite.
 */
export const processSuite = (
  twilio: FakeTwilio,
  ...providers: ReadonlyArray<{ readonly stop: () => unknown }>
) => {
  const database = processStack(twilio)
  const services: Array<ServiceProcess> = []
  afterAll(async () => {
    await Promise.all(services.map((s) => s.kill("SIGKILL")))
    await database.dispose()
    for (const provider of [twilio, ...providers]) await provider.stop()
  })
  return { database, services }
}
