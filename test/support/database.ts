// A fresh, migrated database per test suite on the run's Postgres server, dropped afterwards.
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"
import * as Database from "../../src/adapters/postgres/Database.ts"
import { DatabaseUrl } from "../../src/adapters/postgres/Database.ts"

export const serverUrl = (): string => inject("databaseUrl")

const withDatabase = (url: string, database: string): string => {
  const next = new URL(url)
  next.pathname = `/${database}`
  return next.toString()
}

const admin = (statement: string) =>
  Effect.gen(function* () {
    const client = yield* PgClient.PgClient
    yield* client.unsafe(statement)
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(serverUrl()), maxConnections: 1 })))

/** DatabaseUrl of a new empty database, dropped (connections and all) when the layer is released. */
export const freshDatabaseUrl = Layer.effect(
  DatabaseUrl,
  Effect.acquireRelease(
    Effect.gen(function* () {
      const name = `numbers_test_${crypto.randomUUID().replaceAll("-", "")}`
      yield* admin(`CREATE DATABASE ${name}`)
      return { name, url: withDatabase(serverUrl(), name) }
    }),
    ({ name }) => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.ignore)
  ).pipe(
    Effect.map(({ url }) => Redacted.make(url)),
    Effect.orDie
  )
)

/** A migrated pool on a fresh database, with its DatabaseUrl (for other processes to share it). */
export const testDatabase = (options: Database.DatabaseOptions = {}) =>
  Database.layer(options).pipe(Layer.provideMerge(freshDatabaseUrl))
