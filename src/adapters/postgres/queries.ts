// How the Repository's statements run, written once: the statement joins the caller's transaction if there is
// one; a transient failure is tried again only when the statement asks for it and no transaction is open; SQL
// and decoding failures become RepositoryUnavailable naming the operation and the kind of failure, never the
// values. Any other failure (a conflict the statement raised itself) passes as it is.
import { Context, Effect, identity } from "effect"
import { type SqlClient, SqlError } from "effect/sql"
import { RepositoryUnavailable } from "../../ports/Repository.ts"
import { type DbError, failureKind, isDbError, retryTransient } from "./failures.ts"

type Row = Record<string, unknown>

interface QueryOptions {
  /** Try a transient failure again (outside a transaction only): for statements that are safe to repeat. */
  readonly retry?: boolean
}

const unavailable = (operation: string) => (error: DbError) =>
  Effect.fail(new RepositoryUnavailable({ message: `${operation}: ${failureKind(error)}` }))

export const queries = (sql: SqlClient.SqlClient) => {
  const run = <A, E = never>(
    operation: string,
    statement: Effect.Effect<A, E | DbError>,
    options: QueryOptions = {}
  ) =>
    statement.pipe(
      options.retry ? retryTransient(sql) : identity,
      Effect.catchIf(isDbError, unavailable(operation))
    )

  /** The statement's first row, decoded; null when it returned none. */
  const one = <A, E = never>(
    operation: string,
    statement: Effect.Effect<ReadonlyArray<Row>, E | DbError>,
    decode: (row: Row) => Effect.Effect<A, DbError>,
    options?: QueryOptions
  ) =>
    run<A | null, E>(
      operation,
      Effect.flatMap(statement, ([row]) => (row === undefined ? Effect.succeed(null) : decode(row))),
      options
    )

  /** Every row of the statement, decoded. */
  const many = <A>(
    operation: string,
    statement: Effect.Effect<ReadonlyArray<Row>, DbError>,
    decode: (row: Row) => Effect.Effect<A, DbError>,
    options?: QueryOptions
  ) => run(operation, Effect.flatMap(statement, Effect.forEach(decode)), options)

  /**
   * `effect` in a transaction (a savepoint in the caller's): failing to begin or commit it is unavailability.
   * Its span (named by the operation) covers the transaction: for the business lock, how long it was held.
   */
  const transactionally = <A, E, R>(operation: string, effect: Effect.Effect<A, E, R>) =>
    sql
      .withTransaction(effect)
      .pipe(Effect.catchIf(SqlError.isSqlError, unavailable(operation)), Effect.withSpan(operation))

  /** `effect` on a connection of the pool that is not the caller's transaction's: it commits on its own. */
  const outsideTransaction = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.updateContext(effect, (context: Context.Context<never>) =>
      Context.omit(sql.transactionService)(context)
    )

  return { run, one, many, transactionally, outsideTransaction }
}
