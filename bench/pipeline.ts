// Benchmark 1 (and 2 with PROVIDER_LATENCY=1): the assignment pipeline through the real stack (Postgres,
// pg-boss, the worker, sandbox providers) on a fresh database, against baselines measured in the same run on
// the same server: pg-boss's own no-op job rate with the same worker settings, and pgbench's simple-update rate.
// For bench/tracing.ts: OTEL_EXPORTER_OTLP_ENDPOINT exports the run's spans there as the service would
// (OTEL_EXPORTER_OTLP_PROTOCOL http/protobuf, the default, or http/json), BENCH_BASELINES=0 skips the
// baselines, BENCH_RESULT names the result file.
import { hostname } from "node:os"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { PgBoss } from "pg-boss"
import * as MemoryAssistant from "../src/adapters/memory/MemoryAssistant.ts"
import * as MemoryErrorReporter from "../src/adapters/memory/MemoryErrorReporter.ts"
import * as MemoryMailer from "../src/adapters/memory/MemoryMailer.ts"
import * as MemoryTelephony from "../src/adapters/memory/MemoryTelephony.ts"
import * as Database from "../src/adapters/postgres/Database.ts"
import { DatabaseUrl } from "../src/adapters/postgres/Database.ts"
import * as PgBossJobQueue from "../src/adapters/postgres/PgBossJobQueue.ts"
import * as PgBroadcaster from "../src/adapters/postgres/PgBroadcaster.ts"
import * as PostgresRepository from "../src/adapters/postgres/PostgresRepository.ts"
import { loadSampler, type TelemetryConfig } from "../src/app/layers/AppConfig.ts"
import { tracingLayer } from "../src/app/layers/telemetry.ts"
import { convertTrial } from "../src/app/usecases/ConvertTrial.ts"
import { jobHandlers } from "../src/app/usecases/jobHandlers.ts"
import { Settings } from "../src/app/usecases/Settings.ts"
import type { AssistantId } from "../src/domain/ids.ts"
import { JobQueue } from "../src/ports/JobQueue.ts"
import { Repository } from "../src/ports/Repository.ts"
import {
  commitsOnceClosed,
  createDatabase,
  percentile,
  pgbenchSimpleUpdate,
  runBenchmark,
  serverUrl
} from "./support.ts"

const withLatency = process.env.PROVIDER_LATENCY === "1"
const N = Number(process.env.BENCH_ASSIGNMENTS ?? (withLatency ? 160 : 1000))
const CONCURRENCY = Number(process.env.WORKER_CONCURRENCY ?? 8)
const TWILIO_MS = withLatency ? 300 : 0
const VAPI_MS = withLatency ? 200 : 0
const BASELINES = process.env.BENCH_BASELINES !== "0"
const RESULT = process.env.BENCH_RESULT || (withLatency ? "provider-latency" : "pipeline")
/** Blank means unset, as the service reads it. */
const OTLP_ENDPOINT = process.env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || undefined
const OTLP_PROTOCOL = process.env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() || "http/protobuf"
if (OTLP_PROTOCOL !== "http/protobuf" && OTLP_PROTOCOL !== "http/json")
  throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL: expected http/protobuf or http/json, got ${OTLP_PROTOCOL}`)

/** The service's telemetry settings with spans exported to OTLP_ENDPOINT, or none exported without it. */
const telemetry: TelemetryConfig = {
  serviceName: "numbers-bench-pipeline",
  instanceId: `${hostname()}:${process.pid}`,
  otlp:
    OTLP_ENDPOINT === undefined
      ? Option.none()
      : Option.some({
          tracesUrl: `${OTLP_ENDPOINT.replace(/\/+$/, "")}/v1/traces`,
          protocol: OTLP_PROTOCOL,
          headers: Redacted.make({})
        }),
  // OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, as the service reads them.
  sampler: Effect.runSync(loadSampler),
  logFormat: "json",
  logLevel: "Warn"
}

const server = await serverUrl()
const database = await createDatabase(server.url)
const databaseUrl = Layer.succeed(DatabaseUrl, Redacted.make(database.url))

/** pg-boss alone: N no-op jobs drained by pg-boss's own worker. */
const noopJobRate = async (url: string) => {
  const boss = new PgBoss({
    connectionString: url,
    max: CONCURRENCY + 2,
    useListenNotify: true,
    registerInstance: false
  })
  boss.on("error", () => {})
  await boss.start()
  await boss.createQueue("bench-noop", { policy: "standard", notify: true })
  await boss.insert(
    "bench-noop",
    Array.from({ length: N }, (_, i) => ({ data: { i } }))
  )
  let done = 0
  const finished = Promise.withResolvers<void>()
  const started = performance.now()
  await boss.work<object>(
    "bench-noop",
    // pg-boss's own worker at its best here: batches of 4 in two loops, a burst while a batch comes back full.
    {
      includeMetadata: true,
      batchSize: 4,
      localConcurrency: Math.ceil(CONCURRENCY / 4),
      perJobResults: true,
      burstWhenBatchFull: true,
      pollingIntervalSeconds: 0.5,
      notifyPollingIntervalSeconds: 1
    },
    async (jobs) => {
      done += jobs.length
      if (done >= N) finished.resolve()
      return jobs.map((job) => ({ id: job.id, status: "completed" as const }))
    }
  )
  await finished.promise
  const seconds = (performance.now() - started) / 1000
  await boss.stop({ graceful: true, timeout: 5_000 })
  return N / seconds
}

const stack = Layer.mergeAll(
  PostgresRepository.layer,
  PgBossJobQueue.layer({ concurrency: CONCURRENCY }),
  PgBroadcaster.layer
).pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      MemoryTelephony.layer({ defaultStock: N * 2, latency: Duration.millis(TWILIO_MS) }),
      MemoryAssistant.layer({ latency: Duration.millis(VAPI_MS) }),
      MemoryMailer.layer,
      MemoryErrorReporter.layer,
      Settings.layer({ vapiWebhookSecret: Redacted.make("bench") })
    )
  ),
  Layer.provideMerge(Database.layer({ maxConnections: CONCURRENCY + 8 })),
  Layer.provideMerge(databaseUrl),
  // Outermost, as in the service: built first and released last, flushing the spans left (the run's last ones
  // and the shutdown's). Merged, so that the benchmark's own fibers (the conversions, the worker) use it too.
  Layer.provideMerge(tracingLayer({ role: "all", telemetry }))
)

// The trials, on connections of their own, closed before the commits are counted: a Postgres backend reports
// its commits late (bench/support.ts, commitsOnceClosed), so a count read while connections are open misses
// some and includes others (the trials' 1,000 commits, or not).
try {
  const trials = await Effect.runPromise(
    Effect.forEach(
      Array.from({ length: N }, (_, i) => i),
      (i) =>
        Repository.use((repo) =>
          repo.createTrial({
            ownerEmail: `bench${i}@example.com`,
            ownerName: "Bench",
            businessName: `Bench ${i}`,
            vapiAssistantId: `bench-${i}` as AssistantId,
            requestedAreaCode: "415"
          })
        ),
      { concurrency: 8 }
    ).pipe(
      Effect.provide(
        PostgresRepository.layer.pipe(Layer.provideMerge(Database.layer()), Layer.provide(databaseUrl))
      )
    )
  )
  const commitsBefore = await commitsOnceClosed(database.url)
  // Each poll of the drain is a commit of its own (a read-only transaction): counted, and left out of the commits.
  let polls = 0

  await runBenchmark(
    Effect.gen(function* () {
      // Latency is read from the database, not from the Broadcaster (whose `all` carries only the businesses this
      // instance watches): from a conversion's commit (the wall clock here when it returns) to the start of the
      // transaction that stores its `number.assigned` event (owner_events.created_at, Postgres's now()), which
      // commits a few statements later. Same machine, same clock.
      const sql = yield* SqlClient.SqlClient
      const assignedCount = sql<{ readonly n: number }>`
      SELECT count(*)::int AS n FROM owner_events WHERE type = 'number.assigned'`.pipe(
        Effect.map(([row]) => row?.n ?? 0),
        Effect.tap(() => Effect.sync(() => polls++))
      )
      const convertedAt = new Map<string, number>()
      yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
      yield* Effect.sleep("500 millis")
      const started = performance.now()
      const cpuBefore = process.cpuUsage()
      yield* Effect.forEach(
        trials,
        (trial) =>
          convertTrial(trial.id).pipe(
            Effect.tap((business) => Effect.sync(() => convertedAt.set(business.id, Date.now())))
          ),
        { concurrency: 16, discard: true }
      )
      const conversionSeconds = (performance.now() - started) / 1000
      // Done when all N events are stored: seen by a poll every 20 ms, so at most that late.
      while ((yield* assignedCount) < N) yield* Effect.sleep("20 millis")
      const seconds = (performance.now() - started) / 1000
      // Where the time goes: how long the conversions alone took (they share the machine with the drain), and
      // the share of one core this process (conversions, worker, listener) used meanwhile.
      const cpu = process.cpuUsage(cpuBefore)
      const processCpuShare = (cpu.user + cpu.system) / 1e6 / ((performance.now() - started) / 1000)
      const assigned = yield* sql<{ readonly businessId: string; readonly atMillis: number }>`
      SELECT business_id, (extract(epoch FROM created_at) * 1000)::float8 AS at_millis
      FROM owner_events WHERE type = 'number.assigned'`
      yield* Effect.sleep("2 seconds") // let the email jobs finish and the statistics flush
      const latencies = assigned.map(
        ({ businessId, atMillis }) => atMillis - (convertedAt.get(businessId) ?? atMillis)
      )
      const rate = N / seconds
      // The floor with provider latency: batches of WORKER_CONCURRENCY, each paying the sequential external
      // calls of one assignment (look up by FriendlyName, buy, point Vapi at us).
      const floorSeconds = (Math.ceil(N / CONCURRENCY) * (2 * TWILIO_MS + VAPI_MS)) / 1000
      const twilioCalls = yield* MemoryTelephony.MemoryTelephonyControl.use((t) => t.calls)
      return {
        benchmark: RESULT,
        tracesExported: OTLP_ENDPOINT === undefined ? false : OTLP_PROTOCOL,
        assignments: N,
        workerConcurrency: CONCURRENCY,
        twilioMillis: TWILIO_MS,
        vapiMillis: VAPI_MS,
        seconds: Number(seconds.toFixed(2)),
        conversionSeconds: Number(conversionSeconds.toFixed(2)),
        processCpuShare: Number(processCpuShare.toFixed(2)),
        assignmentsPerSecond: Number(rate.toFixed(1)),
        p50Millis: Math.round(percentile(latencies, 50)),
        p99Millis: Math.round(percentile(latencies, 99)),
        ...(withLatency ? { floorSeconds, ratioToFloor: Number((seconds / floorSeconds).toFixed(3)) } : {}),
        // Per assignment: one lookup by FriendlyName and one purchase per area code tried (the API has no search).
        twilioCallsPerAssignment: twilioCalls.length / N,
        purchasesPerAssignment: twilioCalls.filter((c) => c === "purchase").length / N
      }
    }),
    stack,
    // Once the stack has closed: every connection's commits are in. Less this benchmark's own: the drain's polls,
    // the read of the events' times, and the count before (one transaction). The stack's start and stop and
    // pg-boss's polling while it ran stay in (a few dozen to a few hundred commits, with the run's length: about
    // 0.1 an assignment at N = 1000, more at the provider-latency run's 160). The baselines run after the stack
    // has closed, on the same database, with nothing else polling it.
    async (result) => {
      const commits = (await commitsOnceClosed(database.url)) - commitsBefore - polls - 2
      const commitsPerAssignment = commits / N
      const noop = BASELINES ? await noopJobRate(database.url) : undefined
      const pgbench = BASELINES ? pgbenchSimpleUpdate(database.url) : undefined
      const rate = result.assignmentsPerSecond
      return {
        ...result,
        ...(noop === undefined
          ? {}
          : { noopJobsPerSecond: Number(noop.toFixed(1)), ratioToNoop: Number((rate / noop).toFixed(3)) }),
        ...(pgbench === undefined ? {} : { pgbenchTps: Number(pgbench.toFixed(0)) }),
        commitsPerAssignment: Number(commitsPerAssignment.toFixed(1)),
        ...(pgbench === undefined
          ? {}
          : { ratioToCommitLimit: Number((rate / (pgbench / commitsPerAssignment)).toFixed(3)) })
      }
    }
  )
} finally {
  await database.drop()
  await server.stop()
}
process.exit(0)
