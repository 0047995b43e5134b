// Owner events across instances, on Postgres: every event is stored with its business's next offset and NOTIFY
// only wakes the instances, which read the streams they follow by cursor (on a wake-up, every 2 s, and when
// LISTEN is back). A worker process's number.assigned reaches a watcher here; a cut LISTEN loses nothing; and a
// second instance's /cable (a real server and real WebSocket clients) resumes a client with no gap and no
// duplicate, whatever is committed while it reads.
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, ManagedRuntime, Redacted, Scope } from "effect"
import { SqlClient } from "effect/sql"
import * as MemoryAssistant from "../../src/adapters/memory/MemoryAssistant.ts"
import * as MemoryErrorReporter from "../../src/adapters/memory/MemoryErrorReporter.ts"
import * as MemoryJobQueue from "../../src/adapters/memory/MemoryJobQueue.ts"
import * as MemoryMailer from "../../src/adapters/memory/MemoryMailer.ts"
import * as MemoryTelephony from "../../src/adapters/memory/MemoryTelephony.ts"
import * as Database from "../../src/adapters/postgres/Database.ts"
import * as PgBroadcaster from "../../src/adapters/postgres/PgBroadcaster.ts"
import * as PgReadiness from "../../src/adapters/postgres/PgReadiness.ts"
import * as PostgresRepository from "../../src/adapters/postgres/PostgresRepository.ts"
import { makeApp } from "../../src/app/http/app.ts"
import { signToken } from "../../src/app/http/auth.ts"
import { openSockets, relayEvents } from "../../src/app/http/cable.ts"
import { convertTrial } from "../../src/app/usecases/ConvertTrial.ts"
import { Settings } from "../../src/app/usecases/Settings.ts"
import type { BusinessId } from "../../src/domain/ids.ts"
import { Broadcaster, type StreamPosition } from "../../src/ports/Broadcaster.ts"
import { Repository } from "../../src/ports/Repository.ts"
import {
  type CableClient,
  collectAll,
  connectCable,
  eventOf,
  eventually,
  newBusinessId,
  range,
  reasonOf
} from "../support/eventClient.ts"
import { startFakeTwilio } from "../support/fakeTwilio.ts"
import { newTrial } from "../support/fixtures.ts"
import { SETTINGS } from "../support/httpApp.ts"
import { spawnService } from "../support/processes.ts"
import { databaseUrlOf, workerEnv, workerHarness } from "../support/processStack.ts"

/** A converted business whose assignment is not queued: the worker of an earlier test must not touch it. */
const unqueuedBusiness = Repository.use((r) =>
  r.createTrial(newTrial()).pipe(
    Effect.flatMap((trial) => r.convertTrial(trial.id)),
    Effect.map(({ business }) => business)
  )
)

/** This process's own instance (the harness's pool) is the one named "numbers": its LISTEN is the one cut. */
const cutListen = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly cut: boolean }>`
    SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'numbers' AND query ILIKE 'LISTEN%'`
  return rows.filter((row) => row.cut).length
})

/**
 * Where the seam tests stop the cable of the second instance: after its `position` is read, or before or after
 * its `replay` is read. Each gate opens once.
 */
type GateAt = "position" | "replay-before" | "replay-after"
interface Gate {
  readonly at: GateAt
  readonly reached: Deferred.Deferred<void>
  readonly go: Deferred.Deferred<void>
}
const gates = new Map<BusinessId, Gate>()

const gated = Layer.effect(
  Broadcaster,
  Effect.gen(function* () {
    const inner = yield* Broadcaster
    const pause = (businessId: BusinessId, at: GateAt) =>
      Effect.suspend(() => {
        const gate = gates.get(businessId)
        if (!gate || gate.at !== at) return Effect.void
        gates.delete(businessId)
        return Deferred.succeed(gate.reached, undefined).pipe(Effect.andThen(Deferred.await(gate.go)))
      })
    return Broadcaster.of({
      ...inner,
      position: (businessId) =>
        inner.position(businessId).pipe(Effect.tap(() => pause(businessId, "position"))),
      replay: (businessId, after) =>
        pause(businessId, "replay-before").pipe(
          Effect.andThen(inner.replay(businessId, after)),
          Effect.tap(() => pause(businessId, "replay-after"))
        )
    })
  })
).pipe(Layer.provide(PgBroadcaster.layer))

/** A second instance on the same database: its own pool (named apart), its own LISTEN, and the HTTP services. */
const secondInstance = (databaseUrl: string) =>
  ManagedRuntime.make(
    Layer.mergeAll(PostgresRepository.layer, gated, PgReadiness.layer).pipe(
      Layer.provideMerge(
        Layer.mergeAll(
          MemoryTelephony.layer(),
          MemoryAssistant.layer(),
          MemoryJobQueue.layer(),
          MemoryMailer.layer,
          MemoryErrorReporter.layer,
          Settings.layer({ appUrl: SETTINGS.appUrl, vapiWebhookSecret: SETTINGS.vapiWebhookSecret })
        )
      ),
      Layer.provideMerge(Database.layer({ maxConnections: 8, applicationName: "numbers-second" })),
      Layer.provide(Layer.succeed(Database.DatabaseUrl, Redacted.make(databaseUrl)))
    )
  )

describe("owner events across instances", () => {
  const { twilio, runtime, workers } = workerHarness(startFakeTwilio({ defaultStock: 10 }))
  let instanceB: ReturnType<typeof secondInstance>
  beforeAll(async () => {
    instanceB = secondInstance(await databaseUrlOf(runtime))
    await instanceB.runPromise(Effect.void)
  })
  afterAll(async () => {
    await instanceB?.dispose()
  })

  it("number.assigned published by a worker process reaches a watcher in another", {
    timeout: 60_000
  }, async () => {
    const databaseUrl = await databaseUrlOf(runtime)
    const outcome = await runtime.runPromise(
      Effect.gen(function* () {
        const broadcaster = yield* Broadcaster
        const collector = yield* collectAll(broadcaster)
        const trial = yield* Repository.use((r) => r.createTrial(newTrial()))
        const business = yield* convertTrial(trial.id)
        const watched = yield* broadcaster.watch(business.id)
        workers.push(spawnService(workerEnv(databaseUrl, twilio)))
        yield* eventually(
          "number.assigned",
          Effect.sync(() => collector.of(business.id).map((e) => e.event._tag)),
          (tags) => tags.includes("number.assigned"),
          30_000
        )
        yield* broadcaster.unwatch(business.id)
        return {
          watched,
          events: collector.of(business.id),
          business: yield* Repository.use((r) => r.findBusiness(business.id))
        }
      }).pipe(Effect.scoped)
    )
    const offsets = outcome.events.map((e) => e.offset)
    assert.deepStrictEqual(
      offsets,
      range(outcome.watched.offset + 1, outcome.watched.offset + offsets.length)
    )
    const assigned = outcome.events.find((e) => e.event._tag === "number.assigned")?.event
    assert.strictEqual(assigned?._tag, "number.assigned")
    assert.strictEqual(
      assigned?._tag === "number.assigned" && assigned.phoneNumber,
      outcome.business?.phoneNumber?.e164
    )
    assert.strictEqual(assigned?.businessId, outcome.business?.id)
  })

  it("a listener whose connection is cut reconnects, and an event of the gap is not lost", {
    timeout: 60_000
  }, async () => {
    const outcome = await runtime.runPromise(
      Effect.gen(function* () {
        const broadcaster = yield* Broadcaster
        const collector = yield* collectAll(broadcaster)
        const business = yield* unqueuedBusiness
        yield* broadcaster.watch(business.id)
        const cut = yield* cutListen
        // One publish only, at once: the wake-up may be lost with the connection; the event may not.
        yield* broadcaster.publish(business.id, eventOf(business.id, "after the cut"))
        const publishedAt = Date.now()
        yield* eventually(
          "the event",
          Effect.sync(() => collector.of(business.id).length),
          (n) => n >= 1,
          10_000
        )
        const took = Date.now() - publishedAt
        yield* broadcaster.publish(business.id, eventOf(business.id, "later"))
        yield* eventually(
          "the next",
          Effect.sync(() => collector.of(business.id).length),
          (n) => n >= 2,
          10_000
        )
        yield* Effect.sleep("2500 millis")
        yield* broadcaster.unwatch(business.id)
        return { cut, took, events: collector.of(business.id).map((e) => [e.offset, reasonOf(e)]) }
      }).pipe(Effect.scoped)
    )
    assert.isAtLeast(outcome.cut, 1, "a LISTEN connection was cut")
    assert.isBelow(outcome.took, 5_000)
    assert.deepStrictEqual(outcome.events, [
      [1, "after the cut"],
      [2, "later"]
    ])
  })

  it("concurrent publishes arrive once each, in offset order; a rolled-back one never", {
    timeout: 60_000
  }, async () => {
    const outcome = await runtime.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const broadcaster = yield* Broadcaster
        const collector = yield* collectAll(broadcaster)
        const business = yield* unqueuedBusiness
        yield* broadcaster.watch(business.id)
        // The rolled-back publishes run among the others: they must not take theirs down, nor leak out.
        const rolledBack = sql
          .withTransaction(
            broadcaster
              .publish(business.id, eventOf(business.id, "rolled back"))
              .pipe(Effect.andThen(Effect.fail("undo")))
          )
          .pipe(Effect.ignore)
        yield* Effect.forEach(
          range(0, 299),
          (i) =>
            Effect.andThen(
              i % 100 === 50 ? rolledBack : Effect.void,
              broadcaster.publish(business.id, eventOf(business.id, `event ${i}`))
            ),
          { concurrency: 64, discard: true }
        )
        yield* broadcaster.publish(business.id, eventOf(business.id, "last"))
        yield* eventually(
          "301 events",
          Effect.sync(() => collector.of(business.id).length),
          (n) => n >= 301,
          20_000
        )
        yield* Effect.sleep("2500 millis")
        yield* broadcaster.unwatch(business.id)
        return collector.of(business.id)
      }).pipe(Effect.scoped)
    )
    const reasons = outcome.map(reasonOf)
    assert.deepStrictEqual(
      outcome.map((e) => e.offset),
      range(1, 301)
    )
    assert.strictEqual(new Set(reasons).size, 301)
    assert.notInclude(reasons, "rolled back")
    assert.strictEqual(reasons.at(-1), "last")
  })

  it("LISTEN cut while 200 events are committed for 20 businesses: every watcher gets 1..10, in order, once", {
    timeout: 60_000
  }, async () => {
    const businesses = range(1, 20).map(() => newBusinessId())
    // This instance watches them, through a collector that lives until the end of the test.
    const scope = await runtime.runPromise(Scope.make())
    const collector = await runtime.runPromise(
      Effect.gen(function* () {
        const broadcaster = yield* Broadcaster
        const collector = yield* collectAll(broadcaster)
        for (const business of businesses) yield* broadcaster.watch(business)
        return collector
      }).pipe(Scope.provide(scope))
    )
    // The events are committed by the second instance; it also cuts this instance's LISTEN, three times.
    const cuts: Array<number> = []
    const lastCommit = await instanceB.runPromise(
      Effect.gen(function* () {
        const broadcaster = yield* Broadcaster
        for (const round of range(1, 10)) {
          yield* Effect.forEach(
            businesses,
            (business) => broadcaster.publish(business, eventOf(business, `e${round}`)),
            { concurrency: "unbounded", discard: true }
          )
          if (round === 2 || round === 5 || round === 8) cuts.push(yield* cutListen)
          yield* Effect.sleep("30 millis")
        }
        return Date.now()
      })
    )
    const complete = () => businesses.every((business) => collector.of(business).length >= 10)
    await runtime.runPromise(
      eventually(
        "every watcher's ten events",
        Effect.sync(() => businesses.map((business) => collector.of(business).length)),
        () => complete(),
        15_000
      )
    )
    const took = Date.now() - lastCommit
    // Past a tick: nothing comes twice.
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    console.log(
      `cut ${JSON.stringify(cuts)} LISTEN connections; all 200 events in ${took} ms after the last commit`
    )
    assert.isAtLeast(cuts[0] ?? 0, 1, "the LISTEN connection was cut")
    assert.isBelow(took, 5_000, "within a few seconds (the 2 s tick covers what LISTEN missed)")
    for (const business of businesses) {
      assert.deepStrictEqual(
        collector.of(business).map((e) => [e.offset, reasonOf(e)]),
        range(1, 10).map((i) => [i, `e${i}`]),
        business
      )
    }
    await runtime.runPromise(
      Broadcaster.use((b) => Effect.forEach(businesses, (business) => b.unwatch(business), { discard: true }))
    )
    await runtime.runPromise(Scope.close(scope, Exit.void))
  })

  describe("the /cable of a second instance", () => {
    const sockets = openSockets()
    let app: ReturnType<typeof makeApp>
    let base = ""
    let relay: Fiber.Fiber<void, unknown>
    let service = ""
    const clients: Array<CableClient> = []
    beforeAll(async () => {
      app = makeApp(instanceB.runPromise, SETTINGS, sockets)
      app.listen({ port: 0, hostname: "127.0.0.1" })
      base = `127.0.0.1:${app.server?.port}`
      relay = instanceB.runFork(
        relayEvents(sockets, (topic, payload) => void app.server?.publish(topic, payload))
      )
      service = await Effect.runPromise(signToken(SETTINGS.authSecret, { role: "service" }))
    })
    afterAll(async () => {
      for (const client of clients) client.close()
      await instanceB.runPromise(Fiber.interrupt(relay))
      await app.stop(true)
    })

    const subscribe = async (businessId: BusinessId, since?: StreamPosition) => {
      const client = await connectCable(base)
      clients.push(client)
      client.send({ type: "subscribe", businessId, token: service, ...(since ? { since } : {}) })
      return client
    }
    /** Published by this process's instance (the first), committed before it resolves. */
    const publish = (businessId: BusinessId, reasons: ReadonlyArray<string>) =>
      runtime.runPromise(
        Broadcaster.use((b) =>
          Effect.forEach(reasons, (reason) => b.publish(businessId, eventOf(businessId, reason)), {
            discard: true
          })
        )
      )
    const positionOf = (businessId: BusinessId) =>
      runtime.runPromise(Broadcaster.use((b) => b.position(businessId)))
    const business = () => runtime.runPromise(unqueuedBusiness).then((b) => b.id)
    /** Resolves once the second instance's relay has sent the offset to the business's topic. */
    const relayedUpTo = (businessId: BusinessId, offset: number) =>
      runtime.runPromise(
        eventually(
          `relayed up to ${offset}`,
          Effect.sync(() => sockets.relayed.get(businessId)?.delivered ?? 0),
          (delivered) => delivered >= offset
        )
      )
    const gate = async (businessId: BusinessId, at: GateAt) => {
      const reached = await Effect.runPromise(Deferred.make<void>())
      const go = await Effect.runPromise(Deferred.make<void>())
      gates.set(businessId, { at, reached, go })
      return {
        reached: () => Effect.runPromise(Deferred.await(reached).pipe(Effect.timeout("10 seconds"))),
        go: () => Effect.runPromise(Deferred.succeed(go, undefined))
      }
    }
    const offsetsOf = (client: CableClient) => client.events().map((m) => m.offset as number)
    const untilOffset = (client: CableClient, offset: number) =>
      client.next((m) => typeof m.offset === "number" && m.type !== "subscribed" && m.offset >= offset)

    it("an event committed while a resume is read is sent once, after the replayed ones", {
      timeout: 60_000
    }, async () => {
      const id = await business()
      await publish(
        id,
        range(1, 5).map((i) => `e${i}`)
      )
      const { epoch } = await positionOf(id)

      // Committed (and relayed to the topic, which the socket has not joined) before the replay is read.
      const before = await gate(id, "replay-before")
      const first = await subscribe(id, { offset: 2, epoch })
      await before.reached()
      await publish(id, ["e6"])
      await relayedUpTo(id, 6)
      await before.go()
      await untilOffset(first, 6)

      // Committed after the replay was read, before the socket joins the topic.
      const after = await gate(id, "replay-after")
      const resumed = await subscribe(id, { offset: 4, epoch })
      await after.reached()
      await publish(id, ["e7"])
      await relayedUpTo(id, 7)
      await after.go()
      await untilOffset(resumed, 7)

      // No resume: committed after the position the client is told was read.
      const fresh = await gate(id, "position")
      const third = await subscribe(id)
      await fresh.reached()
      await publish(id, ["e8"])
      await relayedUpTo(id, 8)
      await fresh.go()
      await untilOffset(third, 8)

      await publish(id, ["e9"])
      for (const client of [first, resumed, third]) await untilOffset(client, 9)
      await new Promise((resolve) => setTimeout(resolve, 500))

      const subscribedOf = (client: CableClient) => client.messages.find((m) => m.type === "subscribed")
      assert.deepStrictEqual(
        [first, resumed].map((client) => subscribedOf(client)?.recovered),
        [true, true]
      )
      assert.strictEqual(subscribedOf(third)?.offset, 7)
      assert.isUndefined(subscribedOf(third)?.recovered)
      assert.deepStrictEqual(offsetsOf(first), range(3, 9))
      assert.deepStrictEqual(offsetsOf(resumed), range(5, 9))
      assert.deepStrictEqual(offsetsOf(third), [8, 9])
      assert.deepStrictEqual(
        first.events().map((m) => [m.type, m.reason, m.epoch]),
        range(3, 9).map((i) => ["number.failed", `e${i}`, epoch])
      )
    })

    it("clients that subscribe, with or without a resume, while 200 events stream in get each once, in order", {
      timeout: 60_000
    }, async () => {
      const id = await business()
      await publish(id, ["e1"])
      const { epoch } = await positionOf(id)
      const total = 200
      // About 2 s of events, one every 10 ms, while 20 clients subscribe over about 1.5 s.
      const publishing = runtime.runPromise(
        Broadcaster.use((b) =>
          Effect.forEach(
            range(2, total),
            (i) => b.publish(id, eventOf(id, `e${i}`)).pipe(Effect.andThen(Effect.sleep("10 millis"))),
            { discard: true }
          )
        )
      )
      const subscribers: Array<{ readonly client: CableClient; readonly since: number | null }> = []
      for (let i = 0; i < 20; i++) {
        const { offset } = await positionOf(id)
        const since = i % 2 === 0 ? Math.max(0, offset - 1 - (i % 5)) : null
        subscribers.push({
          client: await subscribe(id, since === null ? undefined : { offset: since, epoch }),
          since
        })
        await new Promise((resolve) => setTimeout(resolve, 60))
      }
      await publishing
      for (const { client, since } of subscribers) {
        const subscribed = await client.next("subscribed")
        if ((since ?? subscribed.offset) < total) await untilOffset(client, total)
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
      const outcomes = subscribers.map(({ client, since }) => {
        const subscribed = client.messages.find((m) => m.type === "subscribed")
        const start = since ?? (subscribed?.offset as number)
        return {
          since,
          recovered: subscribed?.recovered,
          offsets: offsetsOf(client),
          expected: range(start + 1, total)
        }
      })
      const live = outcomes.filter((outcome) => outcome.expected.length > 0 && outcome.expected[0] !== 1)
      console.log(
        `cable stress: ${outcomes.length} clients, ${live.length} subscribed mid-stream; starts ${JSON.stringify(
          outcomes.map((outcome) => outcome.expected[0] ?? null)
        )}`
      )
      for (const outcome of outcomes) {
        assert.deepStrictEqual(outcome.offsets, outcome.expected, JSON.stringify({ since: outcome.since }))
        if (outcome.since !== null) assert.isTrue(outcome.recovered)
      }
    })

    it("a business followed again after its sockets left: a new client is subscribed and live", {
      timeout: 60_000
    }, async () => {
      const id = await business()
      const first = await subscribe(id)
      await first.next("subscribed")
      await publish(id, ["e1"])
      await untilOffset(first, 1)
      first.close()
      await first.closed
      // The instance no longer follows the business (its last socket left); two events are committed meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 300))
      await publish(id, ["e2", "e3"])
      const again = await subscribe(id)
      const subscribed = await again.next("subscribed")
      // Nothing else happens for longer than the cable waits to catch up (5 s).
      await new Promise((resolve) => setTimeout(resolve, 6_000))
      await publish(id, ["e4"])
      await untilOffset(again, 4)
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.strictEqual(subscribed.offset, 3)
      assert.deepStrictEqual(
        again.messages.map((m) => [m.type, m.offset]),
        [
          ["subscribed", 3],
          ["number.failed", 4]
        ]
      )
    })

    it("a business followed again after its sockets left: a resume gets what it missed", {
      timeout: 60_000
    }, async () => {
      const id = await business()
      const first = await subscribe(id)
      await first.next("subscribed")
      await publish(id, ["e1"])
      await untilOffset(first, 1)
      const { epoch } = await positionOf(id)
      first.close()
      await first.closed
      await new Promise((resolve) => setTimeout(resolve, 300))
      await publish(id, ["e2", "e3"])
      // The same client comes back, from where it was.
      const back = await subscribe(id, { offset: 1, epoch })
      await back.next("subscribed")
      await new Promise((resolve) => setTimeout(resolve, 500))
      await publish(id, ["e4"])
      await untilOffset(back, 4).catch(() => undefined)
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.deepStrictEqual(
        back.messages.map((m) => [m.type, m.offset, m.recovered]),
        [
          ["subscribed", 3, true],
          ["number.failed", 2, undefined],
          ["number.failed", 3, undefined],
          ["number.failed", 4, undefined]
        ]
      )
    })
  })
})
