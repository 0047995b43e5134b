// Job drain rate: a backlog of N assignments (conversions queued before any worker starts) drained by one
// process with WORKER_CONCURRENCY slots, providers simulated with zero latency. Prints assignments/s.
import { Effect, Layer, Redacted, References } from "effect"
import { SqlClient } from "effect/sql"
import * as MemoryAssistant from "../src/adapters/memory/MemoryAssistant.ts"
import * as MemoryBroadcaster from "../src/adapters/memory/MemoryBroadcaster.ts"
import * as MemoryErrorReporter from "../src/adapters/memory/MemoryErrorReporter.ts"
import * as MemoryMailer from "../src/adapters/memory/MemoryMailer.ts"
import * as MemoryTelephony from "../src/adapters/memory/MemoryTelephony.ts"
import * as Database from "../src/adapters/postgres/Database.ts"
import * as PgBossJobQueue from "../src/adapters/postgres/PgBossJobQueue.ts"
import * as PostgresRepository from "../src/adapters/postgres/PostgresRepository.ts"
import { convertTrial } from "../src/app/ConvertTrial.ts"
import { jobHandlers } from "../src/app/jobHandlers.ts"
import { Settings } from "../src/app/Settings.ts"
import type { AssistantId } from "../src/domain/ids.ts"
import { JobQueue } from "../src/ports/JobQueue.ts"
import { Repository } from "../src/ports/Repository.ts"
import { freshDatabase, serverUrl, writeResult } from "./support.ts"

const N = Number(process.env.BENCH_JOBS ?? 1000)
const CONCURRENCY = Number(process.env.WORKER_CONCURRENCY ?? 8)

const server = await serverUrl()
const stack = Layer.mergeAll(
  PostgresRepository.layer,
  PgBossJobQueue.layer({ concurrency: CONCURRENCY })
).pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      MemoryTelephony.layer({ defaultStock: N * 2 }),
      MemoryAssistant.layer(),
      MemoryMailer.layer,
      MemoryBroadcaster.layer,
      MemoryErrorReporter.layer,
      Settings.layer({ vapiWebhookSecret: Redacted.make("bench") })
    )
  ),
  Layer.provideMerge(Database.layer({ maxConnections: CONCURRENCY + 8 })),
  Layer.provideMerge(freshDatabase(server.url))
)

const result = await Effect.gen(function* () {
  const repo = yield* Repository
  const sql = yield* SqlClient.SqlClient
  yield* Effect.forEach(
    Array.from({ length: N }, (_, i) => i),
    (i) =>
      repo
        .createTrial({
          ownerEmail: `bench${i}@example.com`,
          ownerName: "Bench",
          businessName: `Bench ${i}`,
          vapiAssistantId: `bench-${i}` as AssistantId,
          requestedAreaCode: "415"
        })
        .pipe(Effect.flatMap((t) => convertTrial(t.id))),
    { concurrency: 8, discard: true }
  )
  const started = performance.now()
  yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
  for (;;) {
    const [row] = yield* sql<{ readonly left: number }>`
      SELECT count(*)::int AS left FROM businesses WHERE number_status <> 'assigned'`
    if ((row?.left ?? 1) === 0) break
    yield* Effect.sleep("50 millis")
  }
  const seconds = (performance.now() - started) / 1000
  return { jobs: N, workerConcurrency: CONCURRENCY, seconds, assignmentsPerSecond: N / seconds }
}).pipe(
  Effect.scoped,
  Effect.provide(stack),
  // Per-assignment info logs would measure the terminal, not the service.
  Effect.provideService(References.MinimumLogLevel, "Warn"),
  Effect.runPromise
)

console.table([result])
await writeResult("drain", result)
await server.stop()
process.exit(0)
