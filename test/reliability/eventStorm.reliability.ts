// Owner events under a storm (docs/RELIABILITY.md): two web processes (ROLE=web) on one database, owners'
// WebSocket clients each following one business and resuming with `since` (the offset and epoch of the last
// event they hold) whenever their socket drops, to whichever instance comes up; meanwhile this process commits
// events to the businesses' streams (a few inside transactions that roll back), cuts the web processes' LISTEN
// connections (pg_terminate_backend) again and again, and drops client sockets at random. At the end every
// client's copy is compared with the stored stream (owner_events): none lost, none twice, none made up.

import { Data, Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, describe, expect, it } from "vitest"
import * as PgBroadcaster from "../../src/adapters/postgres/PgBroadcaster.ts"
import * as PostgresRepository from "../../src/adapters/postgres/PostgresRepository.ts"
import { signToken } from "../../src/app/http/auth.ts"
import { CallUpdated } from "../../src/domain/events.ts"
import type { BusinessId } from "../../src/domain/ids.ts"
import { Broadcaster } from "../../src/ports/Broadcaster.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { testDatabase } from "../support/database.ts"
import { reportFigures } from "../support/figures.ts"
import { newTrial } from "../support/fixtures.ts"
import { eventually, freePort, type ServiceProcess, spawnService, untilReady } from "../support/processes.ts"
import { databaseUrlOf, SECRETS } from "../support/processStack.ts"

const BUSINESSES = Number(process.env.RELIABILITY_STORM_BUSINESSES ?? 30)
/** Clients per business: a business is often followed on both instances, and sometimes by one socket alone. */
const CLIENTS_PER_BUSINESS = 2
const INSTANCES = 2
const STORM_SECONDS = Number(process.env.RELIABILITY_STORM_SECONDS ?? 45)
const PUBLISHERS = 4
/** One publish in this many is made inside a transaction that then rolls back: it must reach nobody. */
const ROLLBACK_EVERY = 20
/** This process's own connections, told apart from the web processes' when cutting LISTENs. */
const APPLICATION_NAME = "event-storm-test"
/** A subscription not answered in this long is a hang: counted, and the socket is opened again. */
const UNANSWERED_MILLIS = 15_000

class RolledBack extends Data.TaggedError("RolledBack") {}

interface Frame {
  readonly type: string
  readonly offset?: number
  readonly epoch?: string
  readonly recovered?: boolean
  readonly callId?: string
}

/** An owner's client: one socket at a time, resumed from the last offset it holds whenever it drops. */
interface Client {
  readonly businessId: string
  readonly token: string
  socket: WebSocket | null
  /** The stream's epoch and where the client's copy begins (the first `subscribed` offset). */
  epoch: string | null
  first: number | null
  /** The last offset held: the `since` of its next subscription. */
  last: number
  readonly received: Array<{ readonly offset: number; readonly callId: string | undefined }>
  subscriptions: number
  refused: number
  rejected: number
  /** Sockets that got neither `subscribed` nor `rejected` within UNANSWERED_MILLIS (then dropped and reopened). */
  unanswered: number
  stopped: boolean
}

const runtime = ManagedRuntime.make(
  Layer.mergeAll(PostgresRepository.layer, PgBroadcaster.layer).pipe(
    Layer.provideMerge(testDatabase({ maxConnections: PUBLISHERS + 4, applicationName: APPLICATION_NAME }))
  )
)
const services: Array<ServiceProcess> = []
const clients: Array<Client> = []
afterAll(async () => {
  for (const client of clients) {
    client.stopped = true
    client.socket?.close()
  }
  await Promise.all(services.map((s) => s.kill("SIGKILL")))
  await runtime.dispose()
})

const pick = <A>(values: ReadonlyArray<A>): A => values[Math.floor(Math.random() * values.length)] as A

describe("owner events under a storm of LISTEN cuts and socket drops", () => {
  it(`${BUSINESSES * CLIENTS_PER_BUSINESS} clients on ${INSTANCES} web processes, ${STORM_SECONDS} s: none lost, none twice`, async () => {
    const databaseUrl = await databaseUrlOf(runtime)
    const bases = Array.from({ length: INSTANCES }, () => {
      const port = freePort()
      services.push(
        spawnService({
          ROLE: "web",
          PORT: String(port),
          APP_URL: `http://127.0.0.1:${port}`,
          DATABASE_URL: databaseUrl,
          ...SECRETS
        })
      )
      return `127.0.0.1:${port}`
    })
    await Promise.all(bases.map((base) => untilReady(`http://${base}`)))

    const businesses = await runtime.runPromise(
      Effect.forEach(
        Array.from({ length: BUSINESSES }),
        () =>
          Effect.gen(function* () {
            const repo = yield* Repository
            const trial = yield* repo.createTrial(newTrial())
            const { business } = yield* repo.convertTrial(trial.id)
            // The stream made now, by one caller: two first uses at once can fail (a bug in
            // PgBroadcaster's positionOf, reported in docs/RELIABILITY.md), which is not what this storm tests.
            yield* Broadcaster.use((b) => b.position(business.id))
            const token = yield* signToken(Redacted.make(SECRETS.AUTH_SECRET), {
              role: "owner",
              sub: trial.ownerId
            })
            return { businessId: business.id, token }
          }),
        { concurrency: 4 }
      )
    )

    let reconnects = 0
    const connect = (client: Client) => {
      if (client.stopped) return
      const socket = new WebSocket(`ws://${pick(bases)}/cable`)
      client.socket = socket
      let answered = false
      setTimeout(() => {
        if (answered || client.socket !== socket) return
        client.unanswered++
        socket.close()
      }, UNANSWERED_MILLIS)
      socket.onopen = () =>
        socket.send(
          JSON.stringify({
            type: "subscribe",
            businessId: client.businessId,
            token: client.token,
            ...(client.epoch === null ? {} : { since: { offset: client.last, epoch: client.epoch } })
          })
        )
      socket.onmessage = ({ data }) => {
        const frame = JSON.parse(String(data)) as Frame
        if (frame.type === "subscribed" || frame.type === "rejected") answered = true
        if (frame.type === "subscribed") {
          client.subscriptions++
          if (client.epoch === null) {
            client.epoch = frame.epoch ?? ""
            client.first = frame.offset ?? 0
            client.last = client.first
          } else if (frame.recovered !== true || frame.epoch !== client.epoch) {
            // Refused: what it missed never comes (counted as lost below); it carries on from the position.
            client.refused++
            client.last = Math.max(client.last, frame.offset ?? 0)
          }
        } else if (frame.type === "rejected") client.rejected++
        else if (typeof frame.offset === "number") {
          client.received.push({ offset: frame.offset, callId: frame.callId })
          client.last = Math.max(client.last, frame.offset)
        }
      }
      socket.onclose = () => {
        if (client.socket !== socket) return
        client.socket = null
        if (client.stopped) return
        reconnects++
        setTimeout(() => connect(client), 50 + Math.random() * 200)
      }
    }
    for (const business of businesses)
      for (let k = 0; k < CLIENTS_PER_BUSINESS; k++) {
        const client: Client = {
          ...business,
          socket: null,
          epoch: null,
          first: null,
          last: 0,
          received: [],
          subscriptions: 0,
          refused: 0,
          rejected: 0,
          unanswered: 0,
          stopped: false
        }
        clients.push(client)
        connect(client)
      }
    await eventually(async () => clients.every((c) => c.subscriptions > 0), "every client subscribed", 30_000)
    reconnects = 0

    // The storm.
    const stopAt = Date.now() + STORM_SECONDS * 1000
    let serial = 0
    const rolledBack = new Set<string>()
    const publisher = Effect.gen(function* () {
      const repo = yield* Repository
      const broadcaster = yield* Broadcaster
      while (Date.now() < stopAt) {
        const businessId = pick(businesses).businessId as BusinessId
        const callId = `storm-${serial++}`
        const event = new CallUpdated({
          businessId,
          callId,
          status: "ringing",
          endedReason: null,
          from: null,
          at: ""
        })
        if (serial % ROLLBACK_EVERY === 0) {
          rolledBack.add(callId)
          yield* repo
            .transaction(
              broadcaster.publish(businessId, event).pipe(Effect.andThen(Effect.fail(new RolledBack())))
            )
            .pipe(Effect.catchTag("RolledBack", () => Effect.void))
        } else yield* broadcaster.publish(businessId, event)
        yield* Effect.sleep(`${5 + Math.floor(Math.random() * 10)} millis`)
      }
    })
    const listenCuts = Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      let cut = 0
      while (Date.now() < stopAt) {
        yield* Effect.sleep(`${700 + Math.floor(Math.random() * 1_300)} millis`)
        const rows = yield* sql<{ readonly cut: boolean }>`
          SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity
          WHERE datname = current_database() AND application_name <> ${APPLICATION_NAME}
            AND query ILIKE 'LISTEN%numbers_owner_events%'`
        cut += rows.filter((row) => row.cut).length
      }
      return cut
    })
    let socketDrops = 0
    const drops = (async () => {
      while (Date.now() < stopAt) {
        await Bun.sleep(50 + Math.random() * 150)
        const victim = pick(clients)
        if (victim.socket) {
          socketDrops++
          victim.socket.close()
        }
      }
    })()
    const started = Date.now()
    const [, cuts] = await runtime.runPromise(
      Effect.all(
        [
          Effect.all(
            Array.from({ length: PUBLISHERS }, () => publisher),
            { concurrency: "unbounded" }
          ),
          listenCuts
        ],
        {
          concurrency: "unbounded"
        }
      )
    )
    await drops

    // Settled: every client holds its business's whole stream (a cut LISTEN is covered by the 2 s tick).
    const streams = async () =>
      new Map(
        (
          await runtime.runPromise(
            SqlClient.SqlClient.use(
              (sql) => sql<{ readonly businessId: string; readonly lastOffset: string | number }>`
                SELECT business_id, last_offset FROM event_streams`
            )
          )
        ).map((row) => [row.businessId, Number(row.lastOffset)])
      )
    const positions = await streams()
    await eventually(
      async () => clients.every((c) => c.last >= (positions.get(c.businessId) ?? 0)),
      "every client caught up with its stream",
      30_000
    ).catch(() => undefined)
    const seconds = (Date.now() - started) / 1000
    for (const client of clients) {
      client.stopped = true
      client.socket?.close()
    }

    // The stored streams, against what each client holds.
    const stored = await runtime.runPromise(
      SqlClient.SqlClient.use(
        (sql) => sql<{
          readonly businessId: string
          readonly offset: string | number
          readonly payload: string
        }>`
          SELECT business_id, "offset", payload FROM owner_events ORDER BY business_id, "offset"`
      )
    )
    const streamOf = new Map<string, Map<number, string>>()
    for (const row of stored) {
      const stream = streamOf.get(row.businessId) ?? new Map<number, string>()
      stream.set(Number(row.offset), String((JSON.parse(row.payload) as { callId?: string }).callId))
      streamOf.set(row.businessId, stream)
    }
    // The store itself: offsets 1..last with no gap, and no rolled-back event in it.
    let storeGaps = 0
    for (const [businessId, last] of positions) {
      const stream = streamOf.get(businessId) ?? new Map()
      for (let offset = 1; offset <= last; offset++) if (!stream.has(offset)) storeGaps++
    }
    const storedRolledBack = stored.filter((row) =>
      rolledBack.has(String(JSON.parse(row.payload).callId))
    ).length

    let expected = 0
    let delivered = 0
    let lost = 0
    let duplicated = 0
    let madeUp = 0
    for (const client of clients) {
      const stream = streamOf.get(client.businessId) ?? new Map<number, string>()
      const seen = new Set<number>()
      for (const { offset, callId } of client.received) {
        if (seen.has(offset)) duplicated++
        else if (stream.get(offset) !== callId || rolledBack.has(String(callId))) madeUp++
        else delivered++
        seen.add(offset)
      }
      for (const offset of stream.keys()) {
        if (offset <= (client.first ?? 0)) continue
        expected++
        if (!seen.has(offset)) lost++
      }
    }
    const published = [...positions.values()].reduce((sum, last) => sum + last, 0)
    const figures = {
      instances: INSTANCES,
      businesses: BUSINESSES,
      clients: clients.length,
      stormSeconds: STORM_SECONDS,
      published,
      rolledBack: rolledBack.size,
      expectedDeliveries: expected,
      delivered,
      lost,
      duplicated,
      madeUp,
      storeGaps,
      listenCuts: cuts,
      socketDrops,
      reconnects,
      resumesRefused: clients.reduce((sum, c) => sum + c.refused, 0),
      subscriptionsRejected: clients.reduce((sum, c) => sum + c.rejected, 0),
      subscriptionsUnanswered: clients.reduce((sum, c) => sum + c.unanswered, 0),
      seconds: Number(seconds.toFixed(1))
    }
    reportFigures("event storm", figures)
    expect(cuts).toBeGreaterThan(0)
    expect(socketDrops).toBeGreaterThan(0)
    expect(storeGaps).toBe(0)
    expect(storedRolledBack).toBe(0)
    expect(madeUp).toBe(0)
    expect(lost).toBe(0)
    expect(duplicated).toBe(0)
    expect(delivered).toBe(expected)
    expect(figures.subscriptionsUnanswered).toBe(0)
  })
})
