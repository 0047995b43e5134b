// The Broadcaster contract: the same cases against the in-memory adapter and Postgres (a fresh, migrated
// database), so that the fake stays honest. Then what only Postgres can show: a rolled-back publish takes no
// offset, concurrent publishers get 1..N in commit order, and a stream made concurrently is read whole.
import { assert, layer } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Logger, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as MemoryBroadcaster from "../../src/adapters/memory/MemoryBroadcaster.ts"
import * as PgBroadcaster from "../../src/adapters/postgres/PgBroadcaster.ts"
import { OwnerEvent } from "../../src/domain/events.ts"
import type { BusinessId } from "../../src/domain/ids.ts"
import { Broadcaster, type BroadcasterShape, type BroadcastUnavailable } from "../../src/ports/Broadcaster.ts"
import { testDatabase } from "../support/database.ts"
import { collectAll, eventOf, eventually, newBusinessId, range, reasonOf } from "../support/eventClient.ts"

const publishMany = (broadcaster: BroadcasterShape, businessId: BusinessId, reasons: ReadonlyArray<string>) =>
  Effect.forEach(reasons, (reason) => broadcaster.publish(businessId, eventOf(businessId, reason)), {
    discard: true
  })

const encodeEvent = Schema.encodeSync(Schema.fromJsonString(OwnerEvent))

const labels = (prefix: string, count: number) => range(1, count).map((i) => `${prefix}${i}`)

/** Longer than the Postgres adapter's tick: whatever was to be handed on twice would have been by then. */
const PAST_A_TICK = "2500 millis"

const broadcasterContract = <E>(name: string, adapter: Layer.Layer<Broadcaster, E>) =>
  // Live services: the adapter's tick, its reconnects, and the prune's keepFor run on real time.
  layer(adapter, { timeout: "60 seconds", excludeTestServices: true })(
    `Broadcaster contract: ${name}`,
    (it) => {
      it.effect(
        "publish gives each business the offsets 1..n, with no gaps, independently of the others",
        () =>
          Effect.gen(function* () {
            const broadcaster = yield* Broadcaster
            const a = newBusinessId()
            const b = newBusinessId()
            const empty = yield* broadcaster.position(a)
            assert.strictEqual(empty.offset, 0)
            assert.isString(empty.epoch)
            for (let i = 1; i <= 5; i++) {
              yield* broadcaster.publish(a, eventOf(a, `a${i}`))
              if (i <= 3) yield* broadcaster.publish(b, eventOf(b, `b${i}`))
            }
            const [atA, atB] = [yield* broadcaster.position(a), yield* broadcaster.position(b)]
            assert.deepStrictEqual([atA.offset, atB.offset], [5, 3])
            assert.strictEqual(atA.epoch, empty.epoch, "the epoch is fixed by the stream's first use")
            assert.strictEqual((yield* broadcaster.position(a)).epoch, atA.epoch, "the epoch is stable")
            const all = yield* broadcaster.replay(a, { offset: 0, epoch: atA.epoch })
            assert.deepStrictEqual(
              all?.map((e) => [e.businessId, e.offset, e.epoch, reasonOf(e)]),
              range(1, 5).map((i) => [a, i, atA.epoch, `a${i}`])
            )
            const ofB = yield* broadcaster.replay(b, { offset: 0, epoch: atB.epoch })
            assert.deepStrictEqual(
              ofB?.map((e) => [e.offset, reasonOf(e)]),
              [
                [1, "b1"],
                [2, "b2"],
                [3, "b3"]
              ]
            )
            const first = all?.[0]?.event
            assert.deepStrictEqual(
              first?._tag === "number.failed" && [first.businessId, first.reason],
              [a, "a1"],
              "the event is stored whole"
            )
          })
      )

      it.effect(
        "replay after k gives k+1..n in order; at n nothing; above n, or of another epoch, null",
        () =>
          Effect.gen(function* () {
            const broadcaster = yield* Broadcaster
            const business = newBusinessId()
            const { epoch } = yield* broadcaster.position(business)
            assert.deepStrictEqual(
              yield* broadcaster.replay(business, { offset: 0, epoch }),
              [],
              "an empty stream"
            )
            assert.isNull(yield* broadcaster.replay(business, { offset: 1, epoch }))
            yield* publishMany(broadcaster, business, labels("e", 8))
            for (let k = 0; k <= 8; k++) {
              const replayed = yield* broadcaster.replay(business, { offset: k, epoch })
              assert.deepStrictEqual(
                replayed?.map((e) => [e.offset, reasonOf(e)]),
                range(k + 1, 8).map((i) => [i, `e${i}`]),
                `replay after ${k}`
              )
            }
            assert.deepStrictEqual(yield* broadcaster.replay(business, { offset: 8, epoch }), [])
            assert.isNull(
              yield* broadcaster.replay(business, { offset: 9, epoch }),
              "above the stream's offset"
            )
            assert.isNull(yield* broadcaster.replay(business, { offset: 1_000_000, epoch }))
            assert.isNull(
              yield* broadcaster.replay(business, { offset: 3, epoch: `${epoch}-other` }),
              "another epoch"
            )
            assert.isNull(
              yield* broadcaster.replay(business, { offset: 0, epoch: "" }),
              "another epoch, at 0"
            )
            // Another business's epoch means nothing here either (unless they happen to be equal, as in memory).
            const other = yield* broadcaster.position(newBusinessId())
            if (other.epoch !== epoch)
              assert.isNull(yield* broadcaster.replay(business, { offset: 2, epoch: other.epoch }))
          })
      )

      it.effect(
        "prune drops old history but never the position: a pruned resume is null, offsets go on",
        () =>
          Effect.gen(function* () {
            const broadcaster = yield* Broadcaster
            const business = newBusinessId()
            yield* publishMany(broadcaster, business, labels("e", 10))
            const { epoch } = yield* broadcaster.position(business)
            // Young events are kept, however many.
            yield* broadcaster.prune({ keepAtLeast: 0, keepFor: Duration.hours(1) })
            assert.strictEqual((yield* broadcaster.replay(business, { offset: 0, epoch }))?.length, 10)
            // keepFor 0: every event older than now goes, but the last keepAtLeast of each stream.
            yield* Effect.sleep("20 millis")
            const pruned = yield* broadcaster.prune({ keepAtLeast: 3, keepFor: Duration.zero })
            assert.isAtLeast(pruned, 7)
            assert.isNull(yield* broadcaster.replay(business, { offset: 0, epoch }), "offset 1 is gone")
            assert.isNull(yield* broadcaster.replay(business, { offset: 6, epoch }), "offset 7 is gone")
            assert.deepStrictEqual(
              (yield* broadcaster.replay(business, { offset: 7, epoch }))?.map((e) => e.offset),
              [8, 9, 10]
            )
            assert.deepStrictEqual(yield* broadcaster.position(business), { offset: 10, epoch })
            yield* broadcaster.publish(business, eventOf(business, "e11"))
            assert.deepStrictEqual(yield* broadcaster.position(business), { offset: 11, epoch })
            assert.deepStrictEqual(
              (yield* broadcaster.replay(business, { offset: 7, epoch }))?.map((e) => [
                e.offset,
                reasonOf(e)
              ]),
              [
                [8, "e8"],
                [9, "e9"],
                [10, "e10"],
                [11, "e11"]
              ]
            )
            // Everything pruned: a client at the head still resumes (with nothing), one behind it cannot.
            yield* Effect.sleep("20 millis")
            yield* broadcaster.prune({ keepAtLeast: 0, keepFor: Duration.zero })
            assert.deepStrictEqual(yield* broadcaster.position(business), { offset: 11, epoch })
            assert.deepStrictEqual(yield* broadcaster.replay(business, { offset: 11, epoch }), [])
            assert.isNull(yield* broadcaster.replay(business, { offset: 10, epoch }))
            yield* broadcaster.publish(business, eventOf(business, "e12"))
            assert.deepStrictEqual(
              (yield* broadcaster.replay(business, { offset: 11, epoch }))?.map((e) => [
                e.offset,
                reasonOf(e)
              ]),
              [[12, "e12"]]
            )
          })
      )

      it.effect("a watched business's events reach `all` in offset order, once", () =>
        Effect.gen(function* () {
          const broadcaster = yield* Broadcaster
          const collector = yield* collectAll(broadcaster)
          const fresh = newBusinessId()
          const used = newBusinessId()
          yield* publishMany(broadcaster, used, labels("before", 3))
          const atFresh = yield* broadcaster.watch(fresh)
          const atUsed = yield* broadcaster.watch(used)
          assert.strictEqual(atFresh.offset, 0)
          assert.deepStrictEqual(atUsed, yield* broadcaster.position(used), "watch answers the position now")
          for (let i = 1; i <= 10; i++) {
            yield* broadcaster.publish(fresh, eventOf(fresh, `f${i}`))
            if (i % 2 === 0) yield* broadcaster.publish(used, eventOf(used, `u${i / 2}`))
          }
          const after = (businessId: BusinessId, position: number) =>
            collector.of(businessId).filter((e) => e.offset > position)
          yield* eventually(
            "the watched events",
            Effect.sync(() => [after(fresh, 0).length, after(used, 3).length]),
            ([f, u]) => f === 10 && u === 5
          )
          // Past a tick: a second reading of the streams must not hand anything on again.
          yield* Effect.sleep(PAST_A_TICK)
          assert.deepStrictEqual(
            after(fresh, 0).map((e) => [e.offset, reasonOf(e)]),
            range(1, 10).map((i) => [i, `f${i}`])
          )
          assert.deepStrictEqual(
            after(used, 3).map((e) => [e.offset, reasonOf(e)]),
            range(1, 5).map((i) => [3 + i, `u${i}`])
          )
          assert.isTrue(after(fresh, 0).every((e) => e.epoch === atFresh.epoch))
          yield* broadcaster.unwatch(fresh)
          yield* broadcaster.unwatch(used)
        })
      )

      it.effect("a lone event reaches `all` promptly after its commit, without waiting for a tick", () =>
        Effect.gen(function* () {
          const broadcaster = yield* Broadcaster
          const collector = yield* collectAll(broadcaster)
          const business = newBusinessId()
          yield* broadcaster.watch(business)
          const latencies: Array<number> = []
          for (const i of range(1, 6)) {
            // Apart: each event's wake-up is the only one in flight.
            yield* Effect.sleep("300 millis")
            const at = Date.now()
            yield* broadcaster.publish(business, eventOf(business, `e${i}`))
            yield* eventually(
              `event ${i}`,
              Effect.sync(() => collector.of(business).length),
              (n) => n >= i,
              5_000
            )
            latencies.push(Date.now() - at)
          }
          yield* broadcaster.unwatch(business)
          assert.deepStrictEqual(collector.offsetsOf(business), range(1, 6))
          // The Postgres adapter's tick is 2 s: a wake-up that is acted on comes well before it.
          assert.isBelow(Math.max(...latencies), 750, `latencies (ms): ${JSON.stringify(latencies)}`)
        })
      )

      it.effect("concurrent publishers to a watched business: `all` hands on 1..N in order, once", () =>
        Effect.gen(function* () {
          const broadcaster = yield* Broadcaster
          const collector = yield* collectAll(broadcaster)
          const business = newBusinessId()
          yield* broadcaster.watch(business)
          yield* Effect.forEach(
            range(1, 8),
            (fiber) => publishMany(broadcaster, business, labels(`p${fiber}-`, 25)),
            { concurrency: "unbounded", discard: true }
          )
          yield* eventually(
            "200 events",
            Effect.sync(() => collector.of(business).length),
            (n) => n >= 200
          )
          yield* Effect.sleep(PAST_A_TICK)
          assert.deepStrictEqual(collector.offsetsOf(business), range(1, 200))
          const stored = yield* broadcaster.replay(
            business,
            yield* broadcaster.position(business).pipe(Effect.map(({ epoch }) => ({ offset: 0, epoch })))
          )
          assert.deepStrictEqual(
            collector.of(business).map(reasonOf),
            stored?.map(reasonOf),
            "`all` and replay agree on which event has which offset"
          )
          // Each publisher's own events keep their order.
          for (const fiber of range(1, 8)) {
            assert.deepStrictEqual(
              collector
                .of(business)
                .map(reasonOf)
                .filter((r) => r.startsWith(`p${fiber}-`)),
              labels(`p${fiber}-`, 25)
            )
          }
          yield* broadcaster.unwatch(business)
        })
      )
    }
  )

broadcasterContract("memory", MemoryBroadcaster.layer)

const postgres = PgBroadcaster.layer.pipe(Layer.provideMerge(testDatabase({ maxConnections: 12 })))
broadcasterContract("postgres", postgres)

layer(postgres, { timeout: "60 seconds", excludeTestServices: true })("Broadcaster on Postgres", (it) => {
  it.effect("an event of a transaction that rolls back takes no offset, and never reaches `all`", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const broadcaster = yield* Broadcaster
      const collector = yield* collectAll(broadcaster)
      const business = newBusinessId()
      const { epoch } = yield* broadcaster.watch(business)
      yield* publishMany(broadcaster, business, ["e1", "e2"])
      const undone = yield* sql
        .withTransaction(
          broadcaster
            .publish(business, eventOf(business, "rolled back"))
            .pipe(Effect.andThen(Effect.fail("undo" as const)))
        )
        .pipe(Effect.flip)
      assert.strictEqual(undone, "undo")
      assert.deepStrictEqual(yield* broadcaster.position(business), { offset: 2, epoch })
      yield* broadcaster.publish(business, eventOf(business, "e3"))
      assert.deepStrictEqual(
        (yield* broadcaster.replay(business, { offset: 0, epoch }))?.map((e) => [e.offset, reasonOf(e)]),
        [
          [1, "e1"],
          [2, "e2"],
          [3, "e3"]
        ]
      )
      yield* eventually(
        "three events",
        Effect.sync(() => collector.of(business).length),
        (n) => n >= 3
      )
      yield* Effect.sleep(PAST_A_TICK)
      assert.deepStrictEqual(collector.of(business).map(reasonOf), ["e1", "e2", "e3"])
      yield* broadcaster.unwatch(business)
    })
  )

  it.effect(
    "an event this version cannot read is skipped live, and a resume across it is refused, not silent",
    () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const broadcaster = yield* Broadcaster
        const collector = yield* collectAll(broadcaster)
        const business = newBusinessId()
        const { epoch } = yield* broadcaster.watch(business)
        yield* publishMany(broadcaster, business, ["e1"])
        // What a newer version would store: a type this one does not know, at the stream's next offset.
        yield* sql`
        WITH s AS (
          UPDATE event_streams SET last_offset = last_offset + 1 WHERE business_id = ${business}
          RETURNING last_offset, epoch
        )
        INSERT INTO owner_events (business_id, "offset", epoch, type, payload)
        SELECT ${business}, last_offset, epoch, 'number.teleported', '{"_tag":"number.teleported"}' FROM s`
        yield* publishMany(broadcaster, business, ["e3"])
        yield* eventually(
          "the event after the unreadable one",
          Effect.sync(() => collector.of(business).map(reasonOf)),
          (reasons) => reasons.includes("e3")
        )
        assert.deepStrictEqual(collector.of(business).map(reasonOf), ["e1", "e3"])
        assert.isNull(yield* broadcaster.replay(business, { offset: 1, epoch }))
        assert.deepStrictEqual((yield* broadcaster.replay(business, { offset: 2, epoch }))?.map(reasonOf), [
          "e3"
        ])
        yield* broadcaster.unwatch(business)
      })
  )

  it.effect(
    "events stored with no wake-up reach `all` by the sweep, in order and once, past a chunk and past a full batch",
    () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const broadcaster = yield* Broadcaster
        const collector = yield* collectAll(broadcaster)
        // More than the sweep's chunk (500): a sweep that stopped after its first chunk would miss most of them.
        const businesses = range(1, 1_200).map(() => newBusinessId())
        yield* Effect.forEach(businesses, (business) => broadcaster.watch(business), {
          concurrency: 8,
          discard: true
        })
        // Stored as a publish stores them, but without its NOTIFY: only a sweep can find them. Five a stream: a
        // chunk's read (500 streams) then fills a batch (2,000 events) and must go on where it stopped.
        const swept = labels("swept-", 5)
        for (const reason of swept) {
          const rows = businesses.map((business) => ({
            business_id: business,
            payload: encodeEvent(eventOf(business, reason))
          }))
          yield* sql`
          WITH input AS (
            SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS t(business_id text, payload text)
          ), s AS (
            UPDATE event_streams SET last_offset = last_offset + 1 FROM input
            WHERE event_streams.business_id = input.business_id
            RETURNING event_streams.business_id, last_offset, epoch
          )
          INSERT INTO owner_events (business_id, "offset", epoch, type, payload)
          SELECT s.business_id, s.last_offset, s.epoch, 'number.failed', input.payload
          FROM s JOIN input USING (business_id)`
        }
        yield* eventually(
          "every stream swept",
          Effect.sync(() => businesses.filter((business) => collector.of(business).length >= 5).length),
          (n) => n === businesses.length
        )
        yield* Effect.sleep(PAST_A_TICK)
        for (const business of businesses)
          assert.deepStrictEqual(
            collector.of(business).map((e) => [e.offset, reasonOf(e)]),
            swept.map((reason, i) => [i + 1, reason])
          )
        yield* Effect.forEach(businesses, (business) => broadcaster.unwatch(business), { discard: true })
      })
  )

  it.effect("8 concurrent transactional publishers of one business get 1..N exactly, in commit order", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const broadcaster = yield* Broadcaster
      const collector = yield* collectAll(broadcaster)
      const business = newBusinessId()
      const { epoch } = yield* broadcaster.watch(business)
      const committed: Array<string> = []
      const perFiber = 25
      yield* Effect.forEach(
        range(1, 8),
        (fiber) =>
          Effect.forEach(
            labels(`p${fiber}-`, perFiber),
            (reason) =>
              sql
                .withTransaction(
                  broadcaster.publish(business, eventOf(business, reason)).pipe(
                    // Held a little past the publish: the next writer waits for this commit.
                    Effect.andThen(Effect.sleep(`${1 + Math.floor(Math.random() * 3)} millis`))
                  )
                )
                .pipe(Effect.andThen(Effect.sync(() => committed.push(reason)))),
            { discard: true }
          ),
        { concurrency: "unbounded", discard: true }
      )
      const total = 8 * perFiber
      const stored = yield* broadcaster.replay(business, { offset: 0, epoch })
      assert.deepStrictEqual(
        stored?.map((e) => e.offset),
        range(1, total)
      )
      assert.deepStrictEqual(stored?.map(reasonOf), committed, "offsets follow the order of the commits")
      assert.deepStrictEqual(yield* broadcaster.position(business), { offset: total, epoch })
      yield* eventually(
        "every event",
        Effect.sync(() => collector.of(business).length),
        (n) => n >= total
      )
      yield* Effect.sleep(PAST_A_TICK)
      assert.deepStrictEqual(collector.offsetsOf(business), range(1, total))
      assert.deepStrictEqual(collector.of(business).map(reasonOf), committed)
      yield* broadcaster.unwatch(business)
    })
  )

  it.effect("position, watch and replay answer while a stream's first event is being committed", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const broadcaster = yield* Broadcaster
      const outcomes: Array<string> = []
      for (const ask of ["position", "watch", "replay"] as const) {
        const business = newBusinessId()
        const published = yield* Deferred.make<void>()
        const commit = yield* Deferred.make<void>()
        // The first publish makes the stream's row in a transaction that stays open until told.
        const writer = yield* sql
          .withTransaction(
            broadcaster
              .publish(business, eventOf(business, "first"))
              .pipe(
                Effect.andThen(Deferred.succeed(published, undefined)),
                Effect.andThen(Deferred.await(commit))
              )
          )
          .pipe(Effect.forkChild)
        yield* Deferred.await(published)
        const question: Effect.Effect<unknown, BroadcastUnavailable> =
          ask === "position"
            ? broadcaster.position(business)
            : ask === "watch"
              ? broadcaster.watch(business)
              : broadcaster.replay(business, { offset: 0, epoch: "any" })
        const asked = yield* question.pipe(Effect.exit, Effect.forkChild)
        yield* Effect.sleep("300 millis")
        yield* Deferred.succeed(commit, undefined)
        yield* Fiber.join(writer)
        const exit = yield* Fiber.join(asked)
        outcomes.push(`${ask}: ${exit._tag === "Failure" ? String(exit.cause) : "answered"}`)
        if (ask === "watch") yield* broadcaster.unwatch(business)
      }
      assert.deepStrictEqual(outcomes, ["position: answered", "watch: answered", "replay: answered"])
    })
  )
})

/** The layer's own warnings (its reader's), by message. */
const warnings: Array<string> = []
const keepWarnings = Logger.make((options) => {
  if (options.logLevel !== "Warn") return
  const [first] = Array.isArray(options.message) ? options.message : [options.message]
  warnings.push(String(first))
})
const logged = PgBroadcaster.layer.pipe(
  Layer.provideMerge(testDatabase({ maxConnections: 12 })),
  Layer.provide(Logger.layer([keepWarnings]))
)

layer(logged, { timeout: "60 seconds", excludeTestServices: true })(
  "Broadcaster on Postgres, reads failing",
  (it) => {
    it.effect(
      "a sweep whose reads fail says so once, not once a chunk; what was committed meanwhile comes with a later sweep, once",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const broadcaster = yield* Broadcaster
          const collector = yield* collectAll(broadcaster)
          // Three chunks of the sweep (500 streams each).
          const businesses = range(1, 1_200).map(() => newBusinessId())
          yield* Effect.forEach(businesses, (business) => broadcaster.watch(business), {
            concurrency: 8,
            discard: true
          })
          yield* Effect.sleep(PAST_A_TICK)
          // Every read of the events fails, as with the table gone, until it is back.
          yield* sql`ALTER TABLE owner_events RENAME TO owner_events_away`
          const failed = () =>
            warnings.filter((message) => message.startsWith("owner events not read")).length
          yield* eventually("a failed read", Effect.sync(failed), (n) => n >= 1)
          // The sweep's other chunks would come straight after its first; the next sweep not before the tick (2 s).
          yield* Effect.sleep("500 millis")
          assert.strictEqual(failed(), 1)
          // Committed while the reads fail, with no wake-up: only a sweep can bring them.
          const rows = businesses.map((business) => ({
            business_id: business,
            payload: encodeEvent(eventOf(business, "missed"))
          }))
          yield* sql`
          WITH input AS (
            SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS t(business_id text, payload text)
          ), s AS (
            UPDATE event_streams SET last_offset = last_offset + 1 FROM input
            WHERE event_streams.business_id = input.business_id
            RETURNING event_streams.business_id, last_offset, epoch
          )
          INSERT INTO owner_events_away (business_id, "offset", epoch, type, payload)
          SELECT s.business_id, s.last_offset, s.epoch, 'number.failed', input.payload
          FROM s JOIN input USING (business_id)`
          yield* sql`ALTER TABLE owner_events_away RENAME TO owner_events`
          yield* eventually(
            "every stream's event",
            Effect.sync(() => businesses.filter((business) => collector.of(business).length >= 1).length),
            (n) => n === businesses.length
          )
          yield* Effect.sleep(PAST_A_TICK)
          for (const business of businesses)
            assert.deepStrictEqual(collector.of(business).map(reasonOf), ["missed"])
          yield* Effect.forEach(businesses, (business) => broadcaster.unwatch(business), { discard: true })
        })
    )
  }
)
