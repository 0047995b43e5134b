// Three worker processes and the test process race on the same 200 businesses, each job enqueued three
// times and the program also run directly: every business gets exactly one number, counted at one Twilio.
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { assignNumber } from "../../src/app/usecases/AssignNumber.ts"
import { convertTrial } from "../../src/app/usecases/ConvertTrial.ts"
import type { Business } from "../../src/domain/entities.ts"
import { AssignNumberJob, JobQueue } from "../../src/ports/JobQueue.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { startFakeTwilio } from "../support/fakeTwilio.ts"
import { newTrial } from "../support/fixtures.ts"
import { eventually, spawnService } from "../support/processes.ts"
import { databaseUrlOf, workerEnv, workerHarness } from "../support/processStack.ts"

const BUSINESSES = 200
const WORKERS = 3

describe("workers in separate processes", () => {
  const { twilio, runtime, workers } = workerHarness(startFakeTwilio({ defaultStock: 1_000 }))
  beforeAll(async () => {
    await runtime.runPromise(Effect.void)
  })

  it("assign every business exactly once however often the job runs", { timeout: 180_000 }, async () => {
    const databaseUrl = await databaseUrlOf(runtime)
    const businesses: ReadonlyArray<Business> = await runtime.runPromise(
      Effect.forEach(Array.from({ length: BUSINESSES }), () =>
        Repository.use((r) => r.createTrial(newTrial({ requestedAreaCode: "415" }))).pipe(
          Effect.flatMap((trial) => convertTrial(trial.id))
        )
      )
    )
    for (let i = 0; i < WORKERS; i++) workers.push(spawnService(workerEnv(databaseUrl, twilio)))
    const started = Date.now()

    // Deliveries two and three, and the program run directly from this process too.
    const enqueueAgain = Effect.forEach(
      businesses,
      (b) => JobQueue.use((q) => q.enqueue(AssignNumberJob.make({ businessId: b.id }), { key: b.id })),
      { concurrency: 8, discard: true }
    )
    await runtime.runPromise(
      Effect.all(
        [
          enqueueAgain,
          enqueueAgain.pipe(Effect.delay("300 millis")),
          Effect.forEach(businesses, (b) => Effect.exit(assignNumber(b.id)), {
            concurrency: 4,
            discard: true
          })
        ],
        { concurrency: "unbounded" }
      )
    )

    const unsettled = () =>
      runtime.runPromise(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const [row] = yield* sql<{ readonly pending: number; readonly jobs: number }>`
            SELECT (SELECT count(*)::int FROM businesses WHERE number_status <> 'assigned') AS pending,
                   (SELECT count(*)::int FROM pgboss.job WHERE name = 'assign-number' AND state < 'completed') AS jobs`
          return (row?.pending ?? 1) + (row?.jobs ?? 1)
        })
      )
    await eventually(
      async () => (await unsettled()) === 0,
      "every business assigned and every job done",
      150_000
    )
    const seconds = (Date.now() - started) / 1000

    const purchases = twilio.purchases()
    const stored = await runtime.runPromise(
      Effect.forEach(businesses, (b) => Repository.use((r) => r.findBusiness(b.id)))
    )
    console.log(
      `race: ${BUSINESSES} businesses, 3 deliveries each + direct runs, ${WORKERS} worker processes: ` +
        `${purchases.length} purchases, ${seconds.toFixed(1)} s`
    )
    assert.strictEqual(purchases.length, BUSINESSES, "one purchase per business, across every process")
    assert.strictEqual(new Set(purchases.map((p) => p.friendlyName)).size, BUSINESSES)
    for (const business of stored) {
      const purchase = purchases.find((p) => p.friendlyName === `business:${business?.id}`)
      assert.strictEqual(business?.numberStatus, "assigned")
      assert.strictEqual(business?.phoneNumber?.twilioSid, purchase?.sid)
    }
    // Each worker stops cleanly on SIGTERM.
    const codes = await Promise.all(workers.splice(0).map((w) => w.kill("SIGTERM")))
    assert.deepStrictEqual(
      codes,
      Array.from({ length: WORKERS }, () => 0)
    )
  })
})
