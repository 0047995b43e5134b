// Shared by benchmarks: a fresh database on the run's Postgres server (DATABASE_URL, else an embedded one).
import { chmodSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { DatabaseUrl } from "../src/adapters/postgres/Database.ts"
import { startEmbeddedPostgres } from "../src/adapters/postgres/EmbeddedPostgres.ts"

export const serverUrl = async (): Promise<{ readonly url: string; readonly stop: () => Promise<void> }> => {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => {} }
  const dir = mkdtempSync(join(tmpdir(), "numbers-bench-"))
  chmodSync(dir, 0o755)
  return startEmbeddedPostgres({ dataDir: join(dir, "pg") })
}

const admin = (server: string, statement: string) =>
  Effect.gen(function* () {
    yield* (yield* PgClient.PgClient).unsafe(statement)
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(server), maxConnections: 1 })))

/** A DatabaseUrl layer for a new database on `server`, dropped afterwards. */
export const freshDatabase = (server: string) =>
  Layer.effect(
    DatabaseUrl,
    Effect.acquireRelease(
      Effect.gen(function* () {
        const name = `numbers_bench_${crypto.randomUUID().replaceAll("-", "")}`
        yield* admin(server, `CREATE DATABASE ${name}`)
        const url = new URL(server)
        url.pathname = `/${name}`
        return { name, url: url.toString() }
      }),
      ({ name }) => admin(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.ignore)
    ).pipe(
      Effect.map(({ url }) => Redacted.make(url)),
      Effect.orDie
    )
  )

export const writeResult = async (name: string, result: unknown) => {
  await Bun.write(
    join(import.meta.dirname, "results", `${name}.json`),
    `${JSON.stringify(result, null, 2)}\n`
  )
}
