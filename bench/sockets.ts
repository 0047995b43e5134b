// Benchmark 4: 10,000 owners, each with a WebSocket on the service's /cable subscribed to their own business,
// one event each, against raw Bun pub/sub (bench/rawPubSub.ts) with the same clients in the same run.
// The service runs as its own process (ROLE=web); events are published from this process through the
// Broadcaster, as a worker on another instance publishes them (stored in owner_events, a NOTIFY wake-up, the
// instance's LISTEN and read, Bun's pub/sub). The burst publishes one event per owner as fast as this process
// can; the trickle publishes one at a time on an idle path: the cross-instance latency. Then the resume storm:
// the web process restarts, BENCH_RESUME_EVENTS (2) events per owner are committed while it is down, and all
// 10,000 owners resubscribe at once with `since` their last offset: the time for each to hold its `subscribed`
// frame and every event it missed, and the events lost or received twice (both must be 0).
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import * as Database from "../src/adapters/postgres/Database.ts"
import { DatabaseUrl } from "../src/adapters/postgres/Database.ts"
import * as PgBroadcaster from "../src/adapters/postgres/PgBroadcaster.ts"
import * as PostgresRepository from "../src/adapters/postgres/PostgresRepository.ts"
import { signToken } from "../src/app/http/auth.ts"
import { CallUpdated } from "../src/domain/events.ts"
import type { AssistantId } from "../src/domain/ids.ts"
import { Broadcaster } from "../src/ports/Broadcaster.ts"
import { Repository } from "../src/ports/Repository.ts"
import { freePort, spawnService, untilReady } from "../test/support/processes.ts"
import type { ResumeResult } from "./socketClients.ts"
import { createDatabase, percentile, runBenchmark, serverUrl } from "./support.ts"

const OWNERS = Number(process.env.BENCH_OWNERS ?? 10_000)
const TRICKLE = 500
/** Events committed per owner while the web process restarts, which every owner's resume must bring. */
const MISSED = Number(process.env.BENCH_RESUME_EVENTS ?? 2)
const PUBLISH_CONCURRENCY = 16
const AUTH_SECRET = "bench-sockets-auth-secret"
const root = resolve(import.meta.dirname, "..")
const now = () => performance.timeOrigin + performance.now()

/**
 * The owners' process; resolves once every socket is subscribed, then `results` waits for the arrivals. With
 * `resume`, `dropped` waits until the server has closed every socket and `resume` reopens them all on `wsUrl`.
 */
const startClients = async (wsUrl: string, ownersFile: string, expected: number, resume = false) => {
  const child = Bun.spawn(
    ["bun", "bench/socketClients.ts", wsUrl, ownersFile, String(expected), ...(resume ? ["resume"] : [])],
    { cwd: root, stdin: "pipe", stdout: "pipe", stderr: "inherit" }
  )
  const lines: Array<string> = []
  const waiting: Array<(line: string) => void> = []
  void (async () => {
    let buffer = ""
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk
      for (let at = buffer.indexOf("\n"); at >= 0; at = buffer.indexOf("\n")) {
        const line = buffer.slice(0, at)
        buffer = buffer.slice(at + 1)
        const next = waiting.shift()
        if (next) next(line)
        else lines.push(line)
      }
    }
  })()
  const nextLine = () =>
    Promise.race([
      new Promise<string>((resolve) => {
        const line = lines.shift()
        if (line !== undefined) resolve(line)
        else waiting.push(resolve)
      }),
      child.exited.then((code) => {
        throw new Error(`owners' process exited (${code})`)
      })
    ])
  const ready = await nextLine()
  if (ready !== "ready") throw new Error(`owners' sockets did not come up: ${ready}`)
  return {
    results: async () => new Map(JSON.parse(await nextLine()) as Array<[string, number]>),
    dropped: async () => {
      const line = await nextLine()
      if (line !== "dropped") throw new Error(`expected the sockets dropped, got ${line.slice(0, 200)}`)
    },
    resume: async (url: string): Promise<ResumeResult> => {
      child.stdin.write(`resume ${url}\n`)
      await child.stdin.flush()
      return JSON.parse(await nextLine()) as ResumeResult
    },
    exited: child.exited
  }
}

const latencies = (published: ReadonlyArray<[string, number]>, received: ReadonlyMap<string, number>) => {
  const lost = published.filter(([callId]) => !received.has(callId)).length
  if (lost > 0) throw new Error(`${lost} of ${published.length} events never arrived`)
  const values = published.map(([callId, at]) => (received.get(callId) ?? Number.NaN) - at)
  const first = Math.min(...published.map(([, at]) => at))
  const last = Math.max(...published.map(([callId]) => received.get(callId) ?? Number.NaN))
  return {
    p50Millis: Number(percentile(values, 50).toFixed(2)),
    p99Millis: Number(percentile(values, 99).toFixed(2)),
    deliveriesPerSecond: Math.round(published.length / ((last - first) / 1000))
  }
}

const server = await serverUrl()
const database = await createDatabase(server.url)
/** The service's web role on `port`, on the benchmark's database. */
const startWeb = (port: number) =>
  spawnService({
    ROLE: "web",
    PORT: String(port),
    APP_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: database.url,
    AUTH_SECRET
  })
const port = freePort()
let service = startWeb(port)
const rawPort = freePort()
const raw = Bun.spawn(["bun", "bench/rawPubSub.ts", String(rawPort)], {
  cwd: root,
  stdout: "ignore",
  stderr: "inherit"
})
const files = mkdtempSync(join(tmpdir(), "numbers-bench-sockets-"))

const stack = Layer.mergeAll(PostgresRepository.layer, PgBroadcaster.layer).pipe(
  Layer.provideMerge(Database.layer({ maxConnections: PUBLISH_CONCURRENCY + 2 })),
  Layer.provideMerge(Layer.succeed(DatabaseUrl, Redacted.make(database.url)))
)

try {
  await untilReady(`http://127.0.0.1:${port}`)
  await untilReady(`http://127.0.0.1:${rawPort}`)
  await runBenchmark(
    Effect.gen(function* () {
      const repo = yield* Repository
      const sql = yield* SqlClient.SqlClient
      const broadcaster = yield* Broadcaster
      const secret = Redacted.make(AUTH_SECRET)
      const owners = yield* Effect.forEach(
        Array.from({ length: OWNERS }, (_, i) => i),
        (i) =>
          Effect.gen(function* () {
            const trial = yield* repo.createTrial({
              ownerEmail: `socket-owner-${i}@example.com`,
              ownerName: "Owner",
              businessName: `Socket ${i}`,
              vapiAssistantId: `socket-${i}` as AssistantId,
              requestedAreaCode: null
            })
            const { business } = yield* repo.convertTrial(trial.id)
            return {
              businessId: business.id,
              token: yield* signToken(secret, { role: "owner", sub: trial.ownerId })
            }
          }),
        { concurrency: 16 }
      )
      const ownersFile = join(files, "owners.json")
      writeFileSync(ownersFile, JSON.stringify(owners))
      const event = (businessId: (typeof owners)[number]["businessId"], callId: string) =>
        new CallUpdated({ businessId, callId, status: "ringing", endedReason: null, from: null, at: "" })

      // The service: the burst, then the trickle on the same sockets, then the resume after a restart.
      const clients = yield* Effect.promise(() =>
        startClients(`ws://127.0.0.1:${port}/cable`, ownersFile, OWNERS + TRICKLE, true)
      )
      const burst = yield* Effect.forEach(
        owners,
        ({ businessId }, i) =>
          Effect.suspend(() => {
            const publishedAt: [string, number] = [`burst-${i}`, now()]
            return broadcaster
              .publish(businessId, event(businessId, publishedAt[0]))
              .pipe(Effect.as(publishedAt))
          }),
        { concurrency: PUBLISH_CONCURRENCY }
      )
      yield* Effect.sleep("1 second")
      const trickle: Array<[string, number]> = []
      for (const [i, { businessId }] of owners.slice(0, TRICKLE).entries()) {
        trickle.push([`trickle-${i}`, now()])
        yield* broadcaster.publish(businessId, event(businessId, `trickle-${i}`))
        yield* Effect.sleep("5 millis")
      }
      const received = yield* Effect.promise(clients.results)

      // The resume storm: the web process stops (closing every socket with 1001), MISSED events per owner are
      // committed while it is down, it starts again (on another port, as a new instance would), and every owner
      // reconnects at once with `since` its last offset. Timed from the reconnect's start (the new process
      // ready) to each socket holding its `subscribed` frame and every event up to that frame's offset.
      yield* Effect.promise(() => service.kill("SIGTERM"))
      yield* Effect.promise(clients.dropped)
      const missedStarted = performance.now()
      yield* Effect.forEach(
        owners,
        ({ businessId }, i) =>
          Effect.forEach(
            Array.from({ length: MISSED }, (_, k) => k),
            (k) => broadcaster.publish(businessId, event(businessId, `missed-${i}-${k}`)),
            { discard: true }
          ),
        { concurrency: PUBLISH_CONCURRENCY, discard: true }
      )
      const missedSeconds = (performance.now() - missedStarted) / 1000
      const restartPort = freePort()
      const restartedAt = performance.now()
      service = startWeb(restartPort)
      yield* Effect.promise(() => untilReady(`http://127.0.0.1:${restartPort}`))
      const restartMillis = performance.now() - restartedAt
      const resumed = yield* Effect.promise(() => clients.resume(`ws://127.0.0.1:${restartPort}/cable`))
      yield* Effect.promise(() => clients.exited)
      // Lost: what each owner's copy lacks against the stored stream, plus what it skipped on the way.
      const stored = new Map(
        (yield* sql<{ readonly businessId: string; readonly lastOffset: string | number }>`
          SELECT business_id, last_offset FROM event_streams`).map((row) => [
          row.businessId,
          Number(row.lastOffset)
        ])
      )
      const behind = resumed.last.reduce(
        (sum, [id, last]) => sum + Math.max(0, (stored.get(id) ?? 0) - last),
        0
      )
      const resumeLost = behind + resumed.gaps

      // The baseline: the same owners' process on raw Bun pub/sub, the same burst.
      const rawClients = yield* Effect.promise(() =>
        startClients(`ws://127.0.0.1:${rawPort}/cable`, ownersFile, OWNERS)
      )
      const rawBurst = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${rawPort}/burst`, {
          method: "POST",
          body: JSON.stringify(owners.map(({ businessId }, i) => [businessId, `raw-${i}`]))
        }).then((r) => r.json() as Promise<Array<[string, number]>>)
      )
      const rawReceived = yield* Effect.promise(rawClients.results)

      const ours = latencies(burst, received)
      const bare = latencies(rawBurst, rawReceived)
      const crossInstance = latencies(trickle, received)
      return {
        benchmark: "sockets",
        owners: OWNERS,
        publishConcurrency: PUBLISH_CONCURRENCY,
        burstP50Millis: ours.p50Millis,
        burstP99Millis: ours.p99Millis,
        burstDeliveriesPerSecond: ours.deliveriesPerSecond,
        rawBunP50Millis: bare.p50Millis,
        rawBunP99Millis: bare.p99Millis,
        rawBunDeliveriesPerSecond: bare.deliveriesPerSecond,
        ratioToRawBun: Number((ours.deliveriesPerSecond / bare.deliveriesPerSecond).toFixed(3)),
        trickleEvents: TRICKLE,
        crossInstanceP50Millis: crossInstance.p50Millis,
        crossInstanceP99Millis: crossInstance.p99Millis,
        resumeOwners: OWNERS,
        resumeMissedPerOwner: MISSED,
        resumeMissedPublishSeconds: Number(missedSeconds.toFixed(2)),
        resumeRestartMillis: Math.round(restartMillis),
        resumeCaughtUp: resumed.millis.length,
        resumeP50Millis: Math.round(percentile(resumed.millis, 50)),
        resumeP99Millis: Math.round(percentile(resumed.millis, 99)),
        resumeAllMillis: Math.round(Math.max(...resumed.millis)),
        resumeLost,
        resumeDuplicated: resumed.duplicated,
        resumeNotRecovered: resumed.notRecovered,
        resumeRetries: resumed.retries,
        burstP99Met: ours.p99Millis <= 50,
        crossInstanceP99Met: crossInstance.p99Millis <= 10,
        resumeExact: resumeLost === 0 && resumed.duplicated === 0 && resumed.millis.length === OWNERS
      }
    }),
    stack
  )
} finally {
  await service.kill("SIGTERM")
  raw.kill("SIGTERM")
  await database.drop()
  await server.stop()
}
process.exit(0)
