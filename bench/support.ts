// Shared by benchmarks: a fresh database on the run's Postgres server (DATABASE_URL, else an embedded one).
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PgClient } from "@effect/sql-pg"
import { Effect, type Layer, Redacted, References, type Scope } from "effect"
import { startEmbeddedPostgres } from "../src/adapters/postgres/EmbeddedPostgres.ts"

export const serverUrl = async (): Promise<{ readonly url: string; readonly stop: () => Promise<void> }> => {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => {} }
  const dir = mkdtempSync(join(tmpdir(), "numbers-bench-"))
  chmodSync(dir, 0o755)
  const server = await startEmbeddedPostgres({ dataDir: join(dir, "pg") })
  return {
    url: server.url,
    // Its data directory goes with it (40-120 MB a run).
    stop: async () => {
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

const admin = (server: string, statement: string) =>
  Effect.gen(function* () {
    yield* (yield* PgClient.PgClient).unsafe(statement)
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(server), maxConnections: 1 })))

/** A new database on `server`, for a benchmark that hands its URL to another process; `drop` removes it. */
export const createDatabase = async (server: string) => {
  const name = `numbers_bench_${crypto.randomUUID().replaceAll("-", "")}`
  await Effect.runPromise(admin(server, `CREATE DATABASE ${name}`))
  const url = new URL(server)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: () =>
      Effect.runPromise(admin(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.ignore))
  }
}

/** Prints a benchmark's table (its result, or the rows given) and writes `bench/results/<benchmark>.json`. */
export const report = async (
  result: { readonly benchmark: string },
  table: ReadonlyArray<unknown> = [result]
) => {
  console.table(table)
  await Bun.write(
    join(import.meta.dirname, "results", `${result.benchmark}.json`),
    `${JSON.stringify(result, null, 2)}\n`
  )
}

/**
 * Runs a benchmark's program on its layers, with warnings and errors only, and reports its result, completed
 * by `complete` once the layers have closed (for what can only be measured then).
 */
export const runBenchmark = async <A extends { readonly benchmark: string }, E, R, E2, B extends A = A>(
  program: Effect.Effect<A, E, R>,
  layer: Layer.Layer<Exclude<R, Scope.Scope>, E2>,
  complete: (result: A) => Promise<B> = async (result) => result as B
) => {
  const result = await complete(
    await program.pipe(
      Effect.scoped,
      Effect.provide(layer),
      Effect.provideService(References.MinimumLogLevel, "Warn"),
      Effect.runPromise
    )
  )
  await report(result)
  return result
}

/** Percentile of a sample (nearest rank). */
export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN
  )
}

const pgbenchUrl = (url: string) => {
  const u = new URL(url)
  return {
    PGHOST: u.hostname,
    PGPORT: u.port || "5432",
    PGUSER: decodeURIComponent(u.username || "postgres"),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: u.pathname.slice(1)
  }
}

/**
 * pgbench's simple-update transactions per second on `url`'s database: the rate at which this machine's
 * Postgres commits small writes, the ceiling anything here can reach.
 */
export const pgbenchSimpleUpdate = (
  url: string,
  options: { readonly clients?: number; readonly seconds?: number } = {}
) => {
  const env = { ...process.env, ...pgbenchUrl(url) }
  const init = Bun.spawnSync(["pgbench", "-i", "-s", "1", "-q"], { env })
  if (init.exitCode !== 0) throw new Error(`pgbench -i failed: ${init.stderr.toString()}`)
  const run = Bun.spawnSync(
    [
      "pgbench",
      "-n",
      "-b",
      "simple-update",
      "-c",
      String(options.clients ?? 8),
      "-j",
      "2",
      "-T",
      String(options.seconds ?? 8)
    ],
    { env }
  )
  const match = /tps = ([\d.]+)/.exec(run.stdout.toString())
  if (!match?.[1]) throw new Error(`pgbench gave no tps: ${run.stdout.toString()}${run.stderr.toString()}`)
  return Number(match[1])
}

/**
 * Committed transactions in `url`'s database, read once no other client connection is open to it. A Postgres
 * backend reports its commits to pg_stat_database as it goes idle, at most once a second, and when it cannot it
 * defers them (up to 10 s, 60 s while the statistics are contended); at exit it reports all of them. So a count
 * read with connections open is off by thousands (seen here: 7.0 or 11.4 commits an assignment for the same
 * run). This count's own statements are one transaction, which reaches the statistics as its connection
 * closes: the next count includes it. Autovacuum's workers are not waited for (their few commits are noise).
 */
export const commitsOnceClosed = async (url: string): Promise<number> => {
  const { PgClient } = await import("@effect/sql-pg")
  const { Effect, Redacted, Schedule } = await import("effect")
  return Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      // Statistics are a snapshot for the whole transaction unless cleared: cleared before each look.
      const look = Effect.gen(function* () {
        yield* sql`SELECT pg_stat_clear_snapshot()`
        const [row] = yield* sql<{ readonly commits: string | null }>`
          SELECT xact_commit::text AS commits FROM pg_stat_database WHERE datname = current_database()
            AND NOT EXISTS (
              SELECT 1 FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend')`
        if (!row?.commits) return yield* Effect.fail("connections still open" as const)
        return Number(row.commits)
      })
      return yield* sql.withTransaction(
        look.pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 }))
      )
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })))
  )
}

/** CPU time (user + system) a process has used so far, in microseconds (Linux's /proc, 100 ticks a second). */
export const cpuMicros = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}
