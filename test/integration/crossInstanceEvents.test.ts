// Owner events cross instances through Postgres NOTIFY: a worker process assigns the number and publishes;
// this process, subscribed through its own LISTEN, receives the event.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { convertTrial } from "../../src/app/usecases/ConvertTrial.ts"
import { NumberFailed } from "../../src/domain/events.ts"
import { Broadcaster } from "../../src/ports/Broadcaster.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { startFakeTwilio } from "../support/fakeTwilio.ts"
import { newTrial } from "../support/fixtures.ts"
import { spawnService } from "../support/processes.ts"
import { databaseUrlOf, workerEnv, workerHarness } from "../support/processStack.ts"

/** A converted business whose assignment is not queued: the worker of an earlier test must not touch it. */
const unqueuedBusiness = Repository.use((r) =>
  r.createTrial(newTrial()).pipe(
    Effect.flatMap((trial) => r.convertTrial(trial.id)),
    Effect.map(({ business }) => business)
  )
)

describe("owner events across instances", () => {
  const { twilio, runtime, workers } = workerHarness(startFakeTwilio({ defaultStock: 10 }))

  it("number.assigned published by a worker process reaches a subscriber in another", {
    timeout: 60_000
  }, async () => {
    const databaseUrl = await databaseUrlOf(runtime)
    const event = await runtime.runPromise(
      Effect.gen(function* () {
        const trial = yield* Repository.use((r) => r.createTrial(newTrial()))
        // Subscribed before the business exists here; the conversion's id is only known after.
        const business = yield* convertTrial(trial.id)
        const received = yield* Broadcaster.use((b) => Effect.succeed(b.subscribe(business.id))).pipe(
          Effect.flatMap((events) => Effect.forkChild(Stream.runHead(events)))
        )
        yield* Effect.sleep("200 millis")
        workers.push(spawnService(workerEnv(databaseUrl, twilio)))
        const first = yield* Fiber.join(received).pipe(Effect.timeout("30 seconds"))
        return { first, business: yield* Repository.use((r) => r.findBusiness(business.id)) }
      })
    )
    assert.strictEqual(event.first._tag, "Some")
    const received = event.first._tag === "Some" ? event.first.value : null
    assert.strictEqual(received?._tag, "number.assigned")
    assert.strictEqual(
      received?._tag === "number.assigned" && received.phoneNumber,
      event.business?.phoneNumber?.e164
    )
    assert.strictEqual(received?.businessId, event.business?.id)
  })

  it("a listener whose connection is cut reconnects and keeps delivering", { timeout: 60_000 }, async () => {
    const delivered = await runtime.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const broadcaster = yield* Broadcaster
        const business = yield* unqueuedBusiness
        const received = yield* Effect.forkChild(Stream.runHead(broadcaster.subscribe(business.id)))
        const cut = yield* sql<{ readonly cut: boolean }>`
          SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity
          WHERE datname = current_database() AND query ILIKE 'LISTEN%'`
        assert.isAtLeast(cut.length, 1, "a LISTEN connection was cut")
        const event = new NumberFailed({
          businessId: business.id,
          reason: "test",
          at: new Date().toISOString()
        })
        // Publish until the re-established listener hears it (bounded).
        for (let i = 0; i < 150 && received.pollUnsafe() === undefined; i++) {
          yield* broadcaster.publish(business.id, event)
          yield* Effect.sleep("200 millis")
        }
        return yield* Fiber.join(received).pipe(Effect.timeout("10 seconds"))
      })
    )
    assert.strictEqual(delivered._tag === "Some" && delivered.value._tag, "number.failed")
  })

  it("concurrent publishes arrive once each, in one statement or many; a rolled-back one never", {
    timeout: 60_000
  }, async () => {
    const outcome = await runtime.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const broadcaster = yield* Broadcaster
        const business = yield* unqueuedBusiness
        const failed = (reason: string) =>
          new NumberFailed({ businessId: business.id, reason, at: new Date().toISOString() })
        const received = yield* Effect.forkChild(
          Stream.runCollect(
            broadcaster
              .subscribe(business.id)
              .pipe(Stream.takeUntil((event) => event._tag === "number.failed" && event.reason === "last"))
          )
        )
        yield* Effect.sleep("200 millis")
        // The rolled-back publish runs among the others: it must not take theirs down, nor leak out itself.
        const rolledBack = sql
          .withTransaction(
            broadcaster.publish(business.id, failed("rolled back")).pipe(Effect.andThen(Effect.fail("undo")))
          )
          .pipe(Effect.ignore)
        yield* Effect.forEach(
          Array.from({ length: 300 }, (_, i) => i),
          (i) =>
            Effect.andThen(
              i % 100 === 50 ? rolledBack : Effect.void,
              broadcaster.publish(business.id, failed(`event ${i}`))
            ),
          { concurrency: 64, discard: true }
        )
        yield* broadcaster.publish(business.id, failed("last"))
        return yield* Fiber.join(received).pipe(Effect.timeout("20 seconds"))
      })
    )
    const reasons = outcome.map((event) => (event._tag === "number.failed" ? event.reason : event._tag))
    assert.strictEqual(reasons.length, 301)
    assert.strictEqual(new Set(reasons).size, 301)
    assert.notInclude(reasons, "rolled back")
    assert.strictEqual(reasons.at(-1), "last")
  })
})
