// The Postgres connection pools (@effect/sql-pg) with our session settings, migrated before use: the pool every
// statement uses, and a small second pool that pipelines the hot routes' lock-free reads.
import { PgClient } from "@effect/sql-pg"
import { Context, Duration, Effect, Layer, Redacted, String as Str } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import type { SqlClient } from "effect/sql"
import { migrate } from "./migrations.ts"

/** Where the database is: DATABASE_URL, or the embedded server's URL. */
export class DatabaseUrl extends Context.Service<DatabaseUrl, Redacted.Redacted<string>>()(
  "numbers/adapters/postgres/DatabaseUrl"
) {}

/**
 * The pool for reads that take no lock, outside any transaction: its statements, from many requests, are
 * pipelined on a few shared connections (@effect/sql-pg's `multiplex`), which took the read routes' driver CPU
 * a request from about 110 us to 45 us (docs/BENCHMARKS.md, section 7). Only statements that cannot wait on a
 * lock belong here: one that waited would hold up every statement pipelined behind it on its connection, and
 * if the lock's holder then needed one of those (a purchase marker, say), both would wait until lock_timeout.
 * It does not rename a result's columns (snake_case to camelCase, about 5 % of the read route's CPU profiled):
 * its statements name their columns as they are read (`columns.ts`).
 */
export class ReadSql extends Context.Service<ReadSql, SqlClient.SqlClient>()(
  "numbers/adapters/postgres/ReadSql"
) {}

export interface DatabaseOptions {
  readonly maxConnections?: number
  readonly applicationName?: string
}

/** Connections of the read pool: each carries up to 32 statements at once. */
const READ_CONNECTIONS = 4

/** `decodeURIComponent`, or undefined for what it cannot decode. */
const decoded = (value: string): string | undefined => {
  try {
    return decodeURIComponent(value)
  } catch {
    return undefined
  }
}

/**
 * The server and database a URL names, as options of their own: @effect/sql-pg (4.0.5) takes its spans'
 * `db.namespace`, `server.address` and `server.port` from these options alone, so with a URL only, every
 * statement's span said localhost:5432/postgres wherever the database was. Read as the driver reads the URL
 * (its `host`, `port` and `dbname` parameters win, the last of a repeated one; no database is the user's, and no
 * user the process's), so the connection is the same either way. A part it cannot decode is left out (a database
 * it cannot decode is not replaced by the user), and a string that is no URL gives nothing: the driver then
 * refuses it itself.
 */
export const urlTarget = (
  url: Redacted.Redacted<string>
): { readonly host?: string; readonly port?: number; readonly database?: string } => {
  let parsed: URL
  try {
    parsed = new URL(Redacted.value(url))
  } catch {
    return {}
  }
  // The driver's URL parser keeps the last value of a repeated parameter.
  const param = (name: string) => parsed.searchParams.getAll(name).at(-1)
  const bracketed = parsed.hostname.startsWith("[") && parsed.hostname.endsWith("]")
  const host = param("host") ?? (bracketed ? parsed.hostname.slice(1, -1) : decoded(parsed.hostname)) ?? ""
  const port = Number(param("port") ?? (parsed.port || Number.NaN))
  const database = param("dbname") ?? decoded(parsed.pathname.replace(/^\//, ""))
  const user =
    param("user") ??
    (parsed.username !== "" ? decoded(parsed.username) : (process.env.USER ?? process.env.USERNAME)) ??
    ""
  return {
    ...(host !== "" ? { host } : {}),
    ...(Number.isInteger(port) && port >= 1 && port <= 65_535 ? { port } : {}),
    ...(database === undefined ? {} : database !== "" ? { database } : user !== "" ? { database: user } : {})
  }
}

/**
 * Timeouts are set per session so that no statement, lock wait or abandoned transaction can hold a business
 * lock forever: a stuck holder is cut off and its job retried.
 */
const settings = (url: Redacted.Redacted<string>, options: DatabaseOptions) => ({
  url,
  ...urlTarget(url),
  applicationName: options.applicationName ?? "numbers",
  connectTimeout: Duration.seconds(5),
  startupParameters: {
    statement_timeout: "30000",
    lock_timeout: "30000",
    idle_in_transaction_session_timeout: "120000"
  }
})

/** The pool every statement uses, one statement at a time on each connection; its results' columns camelCased. */
export const clientLayer = (options: DatabaseOptions = {}) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const url = yield* DatabaseUrl
      return PgClient.layer({
        ...settings(url, options),
        transformResultNames: Str.snakeToCamel,
        maxConnections: options.maxConnections ?? 10
      })
    })
  )

/** The read pool (ReadSql). */
export const readsLayer = (options: DatabaseOptions = {}) =>
  Layer.effect(
    ReadSql,
    Effect.gen(function* () {
      const url = yield* DatabaseUrl
      return yield* PgClient.make({
        ...settings(url, options),
        multiplex: true,
        maxConnections: READ_CONNECTIONS
      })
    })
  ).pipe(Layer.provide(Reactivity.layer))

/** Both pools, with every migration applied before anything uses them. */
export const layer = (options: DatabaseOptions = {}) =>
  Layer.effectDiscard(migrate).pipe(
    Layer.provideMerge(Layer.merge(clientLayer(options), readsLayer(options)))
  )
