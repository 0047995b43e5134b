// Repository on Postgres: the business lock is `SELECT ... FOR UPDATE` in a transaction, and unique
// constraints back every rule the lock also protects. SQL and schema failures become port errors here.
import { Context, DateTime, Effect, Layer, Predicate, Schedule, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { AssistantStatus, Business, Call, PhoneNumber } from "../../domain/entities.ts"
import { BusinessNotFound, type FailureReason, TrialNotFound } from "../../domain/errors.ts"
import type { AssistantId, BusinessId, TrialId, UserId } from "../../domain/ids.ts"
import {
  type NewTrial,
  Repository,
  RepositoryConflict,
  RepositoryUnavailable
} from "../../ports/Repository.ts"
import { toBusiness, toCall, toTrial, toUser } from "./rows.ts"

type DbError = SqlError.SqlError | Schema.SchemaError

const isRetryable = (error: DbError): boolean => error._tag === "SqlError" && error.reason.isRetryable

/** Messages name the operation and the kind of failure, never the statement's values. */
const unavailable = (operation: string) => (error: DbError) =>
  new RepositoryUnavailable({
    message: `${operation}: ${error._tag === "SqlError" ? error.reason._tag : "a row did not decode"}`
  })

/** Outside a transaction, a dropped connection, deadlock or serialization failure is worth another try. */
const retryTransient = <A, E extends DbError, R>(self: Effect.Effect<A, E, R>) =>
  Effect.retry(self, {
    schedule: Schedule.exponential("50 millis").pipe(Schedule.jittered),
    times: 3,
    while: isRetryable
  })

export const layer = Layer.effect(
  Repository,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const trialColumns = sql`
      t.id, t.owner_id, u.email AS owner_email, t.business_name, t.vapi_assistant_id,
      t.requested_area_code, t.status, t.business_id
      FROM trials t JOIN users u ON u.id = t.owner_id`
    // A business row is `b` (businesses) with its number's `p` columns; statements that make `b` and `p`
    // themselves (CTEs) select the same fields.
    const businessFields = sql`
      b.id, b.owner_id, b.name, b.vapi_assistant_id, b.requested_area_code, b.trial_id,
      b.number_status, b.assistant_status, b.failure_reason, b.created_at`
    const businessColumns = sql`
      ${businessFields}, p.e164, p.area_code, p.twilio_sid
      FROM businesses b LEFT JOIN phone_numbers p ON p.business_id = b.id`
    const callColumns = sql`
      vapi_call_id, callable_kind, callable_id, status, ended_reason, from_number, summary, started_at, ended_at
      FROM calls`

    const firstBusiness = (rows: ReadonlyArray<Record<string, unknown>>) =>
      rows[0] === undefined ? Effect.succeed(null) : toBusiness(rows[0])
    const firstTrial = (rows: ReadonlyArray<Record<string, unknown>>) =>
      rows[0] === undefined ? Effect.succeed(null) : toTrial(rows[0])

    const findBusiness = (id: BusinessId) =>
      sql`SELECT ${businessColumns} WHERE b.id = ${id}`.pipe(
        Effect.flatMap(firstBusiness),
        retryTransient,
        Effect.mapError(unavailable("Repository.findBusiness"))
      )

    const mustFindBusiness = (id: BusinessId) =>
      sql`SELECT ${businessColumns} WHERE b.id = ${id}`.pipe(
        Effect.flatMap(firstBusiness),
        Effect.mapError(unavailable("Repository.findBusiness")),
        Effect.flatMap((b) => (b ? Effect.succeed(b) : Effect.die(new Error(`business ${id} vanished`))))
      )

    const createTrial = Effect.fn("Repository.createTrial")(function* (input: NewTrial) {
      return yield* sql
        .withTransaction(
          Effect.gen(function* () {
            const [owner] = yield* sql<{ readonly id: string }>`
              INSERT INTO users (email, name) VALUES (${input.ownerEmail.toLowerCase()}, ${input.ownerName})
              ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
              RETURNING id`
            const [trial] = yield* sql<{ readonly id: string }>`
              INSERT INTO trials (owner_id, business_name, vapi_assistant_id, requested_area_code)
              VALUES (${owner?.id ?? ""}, ${input.businessName}, ${input.vapiAssistantId}, ${input.requestedAreaCode})
              RETURNING id`
            return yield* toTrial((yield* sql`SELECT ${trialColumns} WHERE t.id = ${trial?.id ?? ""}`)[0])
          })
        )
        .pipe(retryTransient, Effect.mapError(unavailable("Repository.createTrial")))
    })

    const convertTrial = Effect.fn("Repository.convertTrial")(
      function* (id: TrialId) {
        // One statement, so it needs no transaction of its own and joins the caller's (ConvertTrial queues the
        // job in it) without a savepoint: lock the trial, and if it has no business yet insert one, point the
        // trial at it and answer it. Concurrent conversions queue on the trial's row lock; a later one sees the
        // converted row (Postgres re-reads a locked row that changed) and answers the existing business's id.
        const [row] = yield* sql<{ readonly created: boolean; readonly existingId: string | null }>`
        WITH t AS (
          SELECT id, owner_id, business_name, vapi_assistant_id, requested_area_code, business_id
          FROM trials WHERE id = ${id} FOR UPDATE
        ), b AS (
          INSERT INTO businesses (owner_id, name, vapi_assistant_id, requested_area_code, trial_id)
          SELECT owner_id, business_name, vapi_assistant_id, requested_area_code, id FROM t WHERE business_id IS NULL
          RETURNING *
        ), converted AS (
          UPDATE trials SET status = 'converted', business_id = b.id FROM b WHERE trials.id = b.trial_id
        )
        SELECT b.id IS NOT NULL AS created, t.business_id AS existing_id, ${businessFields},
          NULL::text AS e164, NULL::text AS area_code, NULL::text AS twilio_sid
        FROM t LEFT JOIN b ON true`
        if (!row) return yield* new TrialNotFound({ trialId: id })
        if (row.created) return { business: yield* toBusiness(row), created: true }
        // Converted before (a repeat, or the loser of a race): the business as it is now, in a new snapshot.
        const existing = yield* mustFindBusiness(row.existingId as BusinessId)
        return { business: existing, created: false }
      },
      Effect.mapError((e) =>
        e._tag === "TrialNotFound" || e._tag === "RepositoryUnavailable"
          ? e
          : unavailable("Repository.convertTrial")(e)
      )
    )

    const withBusinessLock = <A, E, R>(id: BusinessId, use: (business: Business) => Effect.Effect<A, E, R>) =>
      sql
        .withTransaction(
          Effect.gen(function* () {
            const rows = yield* sql`SELECT ${businessColumns} WHERE b.id = ${id} FOR UPDATE OF b`.pipe(
              Effect.mapError(unavailable("Repository.withBusinessLock"))
            )
            const business = yield* firstBusiness(rows).pipe(
              Effect.mapError(unavailable("Repository.withBusinessLock"))
            )
            if (!business) return yield* new BusinessNotFound({ businessId: id })
            return yield* use(business)
          })
        )
        .pipe(
          Effect.catchIf(
            (e): e is SqlError.SqlError => Predicate.isTagged(e, "SqlError"),
            (e) => Effect.fail(unavailable("Repository.withBusinessLock")(e))
          )
        )

    const recordNumber = Effect.fn("Repository.recordNumber")(
      function* (id: BusinessId, number: PhoneNumber) {
        // One statement: the number, the business's status, and the business as it now is.
        const rows = yield* sql`
        WITH p AS (
          INSERT INTO phone_numbers (business_id, e164, area_code, twilio_sid)
          VALUES (${id}, ${number.e164}, ${number.areaCode}, ${number.twilioSid})
          RETURNING e164, area_code, twilio_sid
        ), b AS (
          UPDATE businesses SET number_status = 'assigned', failure_reason = NULL WHERE id = ${id} RETURNING *
        )
        SELECT ${businessFields}, p.e164, p.area_code, p.twilio_sid
        FROM b CROSS JOIN p`.pipe(
          Effect.catchIf(
            (e) => e.reason._tag === "UniqueViolation",
            () =>
              Effect.fail(
                new RepositoryConflict({
                  message: `a number is already recorded for business ${id} or elsewhere`
                })
              )
          )
        )
        const business = yield* firstBusiness(rows)
        return business ?? (yield* Effect.die(new Error(`business ${id} vanished`)))
      },
      Effect.mapError((e) =>
        e._tag === "RepositoryConflict" ? e : unavailable("Repository.recordNumber")(e)
      )
    )

    const setStatus = (
      operation: string,
      id: BusinessId,
      status: "failed" | "pending",
      reason: FailureReason | null
    ) =>
      sql`UPDATE businesses SET number_status = ${status}, failure_reason = ${reason} WHERE id = ${id}`.pipe(
        Effect.mapError(unavailable(operation)),
        Effect.andThen(mustFindBusiness(id)),
        Effect.withSpan(operation)
      )

    const setAssistantStatus = Effect.fn("Repository.setAssistantStatus")(
      function* (id: BusinessId, status: AssistantStatus, reason: FailureReason | null) {
        const changed = yield* sql`
          UPDATE businesses SET assistant_status = ${status}, failure_reason = ${reason}
          WHERE id = ${id} AND (assistant_status, failure_reason) IS DISTINCT FROM (${status}, ${reason})
          RETURNING id`
        return { business: yield* mustFindBusiness(id), changed: changed.length > 0 }
      },
      Effect.mapError((e) =>
        e._tag === "RepositoryUnavailable" ? e : unavailable("Repository.setAssistantStatus")(e)
      )
    )

    // Purchase markers commit on their own, outside any transaction the caller is in (the business lock's
    // commits only after the purchase): a connection of the pool that is not the transaction's.
    const outsideTransaction = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.updateContext(effect, (context: Context.Context<never>) =>
        Context.omit(sql.transactionService)(context)
      )

    const markPurchaseInFlight = Effect.fn("Repository.markPurchaseInFlight")((id: BusinessId) =>
      sql`
        INSERT INTO purchases_in_flight (business_id) VALUES (${id})
        ON CONFLICT (business_id) DO UPDATE SET since = now()`.pipe(
        retryTransient,
        outsideTransaction,
        Effect.asVoid,
        Effect.mapError(unavailable("Repository.markPurchaseInFlight"))
      )
    )

    const clearPurchaseInFlight = Effect.fn("Repository.clearPurchaseInFlight")((id: BusinessId) =>
      sql`DELETE FROM purchases_in_flight WHERE business_id = ${id}`.pipe(
        retryTransient,
        outsideTransaction,
        Effect.asVoid,
        Effect.mapError(unavailable("Repository.clearPurchaseInFlight"))
      )
    )

    const purchaseInFlightSince = Effect.fn("Repository.purchaseInFlightSince")((id: BusinessId) =>
      sql<{
        readonly since: Date | string
      }>`SELECT since FROM purchases_in_flight WHERE business_id = ${id}`.pipe(
        Effect.map(([row]) => (row ? DateTime.makeUnsafe(row.since) : null)),
        Effect.mapError(unavailable("Repository.purchaseInFlightSince"))
      )
    )

    const upsertCall = Effect.fn("Repository.upsertCall")(
      function* (call: Call) {
        const encoded = Schema.encodeSync(
          Schema.Struct({
            startedAt: Schema.NullOr(Schema.DateTimeUtcFromString),
            endedAt: Schema.NullOr(Schema.DateTimeUtcFromString)
          })
        )({ startedAt: call.startedAt, endedAt: call.endedAt })
        const rows = yield* sql`
        INSERT INTO calls (vapi_call_id, callable_kind, callable_id, status, ended_reason, from_number, summary, started_at, ended_at)
        VALUES (${call.vapiCallId}, ${call.callableKind}, ${call.callableId}, ${call.status}, ${call.endedReason},
                ${call.from}, ${call.summary}, ${encoded.startedAt}, ${encoded.endedAt})
        ON CONFLICT (vapi_call_id) DO UPDATE SET
          status = EXCLUDED.status,
          ended_reason = COALESCE(EXCLUDED.ended_reason, calls.ended_reason),
          from_number = COALESCE(EXCLUDED.from_number, calls.from_number),
          summary = COALESCE(EXCLUDED.summary, calls.summary),
          started_at = COALESCE(calls.started_at, EXCLUDED.started_at),
          ended_at = COALESCE(EXCLUDED.ended_at, calls.ended_at),
          updated_at = now()
        RETURNING vapi_call_id, callable_kind, callable_id, status, ended_reason, from_number, summary, started_at, ended_at`.pipe(
          retryTransient
        )
        return yield* toCall(rows[0] ?? {})
      },
      Effect.mapError(unavailable("Repository.upsertCall"))
    )

    return Repository.of({
      createTrial,
      findTrial: (id: TrialId) =>
        sql`SELECT ${trialColumns} WHERE t.id = ${id}`.pipe(
          Effect.flatMap(firstTrial),
          retryTransient,
          Effect.mapError(unavailable("Repository.findTrial"))
        ),
      findTrialByAssistant: (assistantId: AssistantId) =>
        sql`SELECT ${trialColumns} WHERE t.vapi_assistant_id = ${assistantId} ORDER BY t.created_at DESC LIMIT 1`.pipe(
          Effect.flatMap(firstTrial),
          retryTransient,
          Effect.mapError(unavailable("Repository.findTrialByAssistant"))
        ),
      convertTrial,
      findBusiness,
      findBusinessWithOwner: (id: BusinessId) =>
        sql`SELECT u.email AS owner_email, u.name AS owner_name, ${businessColumns}
            JOIN users u ON u.id = b.owner_id WHERE b.id = ${id}`.pipe(
          Effect.flatMap(([row]) =>
            row === undefined
              ? Effect.succeed(null)
              : Effect.all({
                  business: toBusiness(row),
                  owner: toUser({ id: row.ownerId, email: row.ownerEmail, name: row.ownerName })
                })
          ),
          retryTransient,
          Effect.mapError(unavailable("Repository.findBusinessWithOwner"))
        ),
      businessesOf: (ownerId: UserId) =>
        sql`SELECT ${businessColumns} WHERE b.owner_id = ${ownerId} ORDER BY b.created_at DESC LIMIT 100`.pipe(
          Effect.flatMap(Effect.forEach(toBusiness)),
          retryTransient,
          Effect.mapError(unavailable("Repository.businessesOf"))
        ),
      findBusinessByAssistant: (assistantId: AssistantId) =>
        sql`SELECT ${businessColumns} WHERE b.vapi_assistant_id = ${assistantId} ORDER BY b.created_at DESC LIMIT 1`.pipe(
          Effect.flatMap(firstBusiness),
          retryTransient,
          Effect.mapError(unavailable("Repository.findBusinessByAssistant"))
        ),
      withBusinessLock,
      recordNumber,
      markFailed: (id: BusinessId, reason: FailureReason) =>
        setStatus("Repository.markFailed", id, "failed", reason),
      markPending: (id: BusinessId) => setStatus("Repository.markPending", id, "pending", null),
      setAssistantStatus,
      markPurchaseInFlight,
      clearPurchaseInFlight,
      purchaseInFlightSince,
      upsertCall,
      recentCalls: (callableId: string, limit: number) =>
        sql`SELECT ${callColumns} WHERE callable_id = ${callableId} ORDER BY created_at DESC LIMIT ${limit}`.pipe(
          Effect.flatMap(Effect.forEach(toCall)),
          retryTransient,
          Effect.mapError(unavailable("Repository.recentCalls"))
        ),
      transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        sql.withTransaction(effect).pipe(
          Effect.catchIf(
            (e): e is SqlError.SqlError => Predicate.isTagged(e, "SqlError"),
            (e) => Effect.fail(unavailable("Repository.transaction")(e))
          )
        )
    })
  })
)
