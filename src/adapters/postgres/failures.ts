// How the Postgres adapters meet a failed statement. A transient failure (a dropped connection, a deadlock, a
// serialization failure) is tried again, but only outside a transaction: inside one, the failed statement has
// aborted it, and only whoever owns the transaction can run it again from the start. A failure is described by
// its kind, never by the statement's values.
import { Effect, Option, Predicate, Schedule, Schema } from "effect"
import { type SqlClient, SqlError } from "effect/sql"

export type DbError = SqlError.SqlError | Schema.SchemaError

export const isDbError = Predicate.or(SqlError.isSqlError, Schema.isSchemaError)

/** What went wrong, without the values: the SQL failure's reason, or a row that did not decode. */
export const failureKind = (error: DbError): string =>
  SqlError.isSqlError(error) ? error.reason._tag : "a row did not decode"

const isTransient = (error: unknown): boolean => SqlError.isSqlError(error) && error.isRetryable

/** Tries `self` up to three more times, with jittered backoff, on a transient failure outside a transaction. */
export const retryTransient =
  (sql: SqlClient.SqlClient) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(Effect.serviceOption(sql.transactionService), (transaction) =>
      Option.isSome(transaction)
        ? self
        : Effect.retry(self, {
            schedule: Schedule.exponential("50 millis").pipe(Schedule.jittered),
            times: 3,
            while: isTransient
          })
    )
