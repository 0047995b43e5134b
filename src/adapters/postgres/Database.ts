// The Postgres connection pool (@effect/sql-pg) with our session settings, migrated before use.
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, type Redacted, String as Str } from "effect"
import { migrate } from "./migrations.ts"

/** Where the database is: DATABASE_URL, or the embedded server's URL. */
export class DatabaseUrl extends Context.Service<DatabaseUrl, Redacted.Redacted<string>>()(
  "numbers/adapters/postgres/DatabaseUrl"
) {}

export interface DatabaseOptions {
  readonly maxConnections?: number
  readonly applicationName?: string
}

/**
 * The pool. Timeouts are set per session so that no statement, lock wait or abandoned
 * transaction can hold a business lock forever: a stuck holder is cut off and its job retried.
 */
export const clientLayer = (options: DatabaseOptions = {}) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const url = yield* DatabaseUrl
      return PgClient.layer({
        url,
        maxConnections: options.maxConnections ?? 10,
        applicationName: options.applicationName ?? "numbers",
        transformResultNames: Str.snakeToCamel,
        // Statements outside a transaction from many fibers share connections, pipelined into one write: on the
        // read routes this took the driver's CPU a request from about 110 us to 45 us (docs/BENCHMARKS.md, the
        // profile). Transactions and LISTEN still hold a connection of their own.
        multiplex: true,
        connectTimeout: "5 seconds",
        startupParameters: {
          statement_timeout: "30000",
          lock_timeout: "30000",
          idle_in_transaction_session_timeout: "120000"
        }
      })
    })
  )

/** The pool, with every migration applied before anything uses it. */
export const layer = (options: DatabaseOptions = {}) =>
  Layer.effectDiscard(migrate).pipe(Layer.provideMerge(clientLayer(options)))
