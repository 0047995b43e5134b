// Repository on Postgres: the business lock is `SELECT ... FOR UPDATE` in a transaction, and unique
// constraints back every rule the lock also protects. SQL and schema failures become port errors here.
import { DateTime, Effect, Layer, Option } from "effect"
import { SqlClient, type Statement } from "effect/sql"
import type { AssistantStatus, Business, BusinessStatus, Call, PhoneNumber } from "../../domain/entities.ts"
import { BusinessNotFound, type FailureReason, TrialNotFound } from "../../domain/errors.ts"
import type { AssistantId, BusinessId, TrialId, UserId } from "../../domain/ids.ts"
import {
  type BusinessListing,
  type NewTrial,
  Repository,
  RepositoryConflict
} from "../../ports/Repository.ts"
import { columns } from "./columns.ts"
import { ReadSql } from "./Database.ts"
import { queries } from "./queries.ts"
import {
  callTimes,
  toBusiness,
  toBusinessWithOwner,
  toCall,
  toConversion,
  toMarkerSince,
  toStatusCounts,
  toTrial
} from "./rows.ts"

/** A business the caller holds the lock on, or has just written, is there: its absence is a defect. */
const vanished = (id: BusinessId) => Effect.die(new Error(`business ${id} vanished`))

export const layer = Layer.effect(
  Repository,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const reads = yield* ReadSql
    const forSql = columns(sql)
    const { trialFields, trialColumns, businessFields, businessColumns, callFields } = forSql
    const forReads = columns(reads)

    /**
     * A lock-free read: on the pipelined read pool, unless the caller is in a transaction (then on its
     * connection, seeing its writes).
     */
    const readPool = <A>(statement: (client: SqlClient.SqlClient, cols: typeof forReads) => A) =>
      Effect.map(Effect.serviceOption(sql.transactionService), (transaction) =>
        Option.isSome(transaction) ? statement(sql, forSql) : statement(reads, forReads)
      )
    const { run, one, many, transactionally, outsideTransaction } = queries(sql)

    /** The business as it is now, read in the caller's transaction (never retried: it may be the lock's). */
    const businessNow = (operation: string, id: BusinessId) =>
      one(operation, sql`SELECT ${businessColumns} WHERE b.id = ${id}`, toBusiness).pipe(
        Effect.flatMap((business) => (business ? Effect.succeed(business) : vanished(id)))
      )

    const createTrial = Effect.fn("Repository.createTrial")(function* (input: NewTrial) {
      // One statement: the owner found or created by email, the trial, and the trial as it is read back.
      const trial = yield* one(
        "Repository.createTrial",
        sql`
        WITH u AS (
          INSERT INTO users (email, name) VALUES (${input.ownerEmail.toLowerCase()}, ${input.ownerName})
          ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
          RETURNING id, email
        ), t AS (
          INSERT INTO trials (owner_id, business_name, vapi_assistant_id, requested_area_code)
          SELECT id, ${input.businessName}, ${input.vapiAssistantId}, ${input.requestedAreaCode} FROM u
          RETURNING *
        )
        SELECT ${trialFields} FROM t JOIN u ON u.id = t.owner_id`,
        toTrial,
        { retry: true }
      )
      return trial ?? (yield* Effect.die(new Error("a trial insert returned no row")))
    })

    const convertTrial = Effect.fn("Repository.convertTrial")(function* (id: TrialId) {
      // One statement, so it needs no transaction of its own and joins the caller's (ConvertTrial queues the
      // job in it) without a savepoint: lock the trial, and if it has no business yet insert one, point the
      // trial at it and answer it. Concurrent conversions queue on the trial's row lock; a later one sees the
      // converted row (Postgres re-reads a locked row that changed) and answers the existing business's id.
      // A business made here has no number yet: `p` (phone_numbers, read before the insert) is empty for it.
      const conversion = yield* one(
        "Repository.convertTrial",
        sql`
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
        SELECT b.id IS NOT NULL AS created, t.business_id AS existing_id, ${businessFields}
        FROM t LEFT JOIN b ON true LEFT JOIN phone_numbers p ON p.business_id = b.id`,
        toConversion
      )
      if (!conversion) return yield* new TrialNotFound({ trialId: id })
      if (conversion._tag === "Created") return { business: conversion.business, created: true }
      // Converted before (a repeat, or the loser of a race): the business as it is now, in a new snapshot.
      return { business: yield* businessNow("Repository.convertTrial", conversion.id), created: false }
    })

    const listBusinesses = Effect.fn("Repository.listBusinesses")(function* (listing: BusinessListing) {
      const { ownerId, numberStatus, assistantStatus, status, limit, cursor } = listing
      // What the counts are over; the page narrows it by number status and starts after the cursor.
      const selected = [
        ...(ownerId === undefined ? [] : [sql`b.owner_id = ${ownerId}`]),
        ...(assistantStatus === undefined ? [] : [sql`b.assistant_status = ${assistantStatus}`]),
        ...(status === undefined ? [] : [sql`b.status = ${status}`])
      ]
      const paged = [
        ...selected,
        ...(numberStatus === undefined ? [] : [sql`b.number_status = ${numberStatus}`]),
        ...(cursor
          ? [sql`(b.created_at, b.id) < (${DateTime.formatIso(cursor.createdAt)}::timestamptz, ${cursor.id})`]
          : [])
      ]
      // One more than the page: whether there is a next page, without counting.
      const rows = yield* many(
        "Repository.listBusinesses",
        sql`SELECT ${businessColumns} WHERE ${sql.and(paged)}
            ORDER BY b.created_at DESC, b.id DESC LIMIT ${limit + 1}`,
        toBusiness,
        { retry: true }
      )
      const counts = yield* run(
        "Repository.listBusinesses",
        sql`SELECT b.number_status, count(*)::int AS count FROM businesses b WHERE ${sql.and(selected)}
            GROUP BY b.number_status`.pipe(Effect.flatMap(toStatusCounts)),
        { retry: true }
      )
      const businesses = rows.slice(0, limit)
      const last = businesses.at(-1)
      return {
        businesses,
        nextCursor: rows.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null,
        counts
      }
    })

    const withBusinessLock = <A, E, R>(id: BusinessId, use: (business: Business) => Effect.Effect<A, E, R>) =>
      transactionally(
        "Repository.withBusinessLock",
        Effect.gen(function* () {
          const business = yield* one(
            "Repository.withBusinessLock",
            sql`SELECT ${businessColumns} WHERE b.id = ${id} FOR UPDATE OF b`,
            toBusiness
          )
          if (!business) return yield* new BusinessNotFound({ businessId: id })
          return yield* use(business)
        })
      )

    const recordNumber = Effect.fn("Repository.recordNumber")(function* (
      id: BusinessId,
      number: PhoneNumber
    ) {
      // One statement: the number, the business's status, its purchase marker cleared (in the lock's transaction,
      // so a rollback keeps it), and the business as it now is.
      const business = yield* one(
        "Repository.recordNumber",
        sql`
        WITH p AS (
          INSERT INTO phone_numbers (business_id, e164, area_code, twilio_sid, date_created)
          VALUES (${id}, ${number.e164}, ${number.areaCode}, ${number.twilioSid},
                  ${DateTime.formatIso(number.dateCreated)}::timestamptz)
          RETURNING e164, area_code, twilio_sid, date_created
        ), b AS (
          UPDATE businesses SET number_status = 'assigned', failure_reason = NULL WHERE id = ${id} RETURNING *
        ), m AS (
          DELETE FROM purchases_in_flight WHERE business_id = ${id}
        )
        SELECT ${businessFields} FROM b CROSS JOIN p`.pipe(
          Effect.catchIf(
            (error) => error.reason._tag === "UniqueViolation",
            () =>
              Effect.fail(
                new RepositoryConflict({
                  message: `a number is already recorded for business ${id} or elsewhere`
                })
              )
          )
        ),
        toBusiness
      )
      return business ?? (yield* vanished(id))
    })

    /**
     * One statement (one commit outside a transaction): `set` applied to the business where `differs` holds, and
     * the business as it then is, changed or not. Unchanged, it is read in the statement's snapshot.
     */
    const updateBusiness = (
      operation: string,
      id: BusinessId,
      set: Statement.Fragment,
      differs: Statement.Fragment = sql`TRUE`
    ) =>
      one(
        operation,
        sql`
        WITH u AS (
          UPDATE businesses SET ${set} WHERE id = ${id} AND ${differs} RETURNING *
        ), b AS (
          SELECT * FROM u UNION ALL SELECT * FROM businesses WHERE id = ${id} AND NOT EXISTS (SELECT 1 FROM u)
        )
        SELECT EXISTS (SELECT 1 FROM u) AS changed, ${businessFields}
        FROM b LEFT JOIN phone_numbers p ON p.business_id = b.id AND p.released_at IS NULL`,
        (row) => Effect.map(toBusiness(row), (business) => ({ business, changed: row.changed === true }))
      ).pipe(Effect.flatMap((updated) => (updated ? Effect.succeed(updated) : vanished(id))))

    const setStatus = (
      operation: string,
      id: BusinessId,
      status: "failed" | "pending",
      reason: FailureReason | null
    ) =>
      updateBusiness(operation, id, sql`number_status = ${status}, failure_reason = ${reason}`).pipe(
        Effect.map(({ business }) => business),
        Effect.withSpan(operation)
      )

    const setAssistantStatus = Effect.fn("Repository.setAssistantStatus")(
      (id: BusinessId, status: AssistantStatus, reason: FailureReason | null) =>
        updateBusiness(
          "Repository.setAssistantStatus",
          id,
          sql`assistant_status = ${status}, failure_reason = ${reason}`,
          sql`(assistant_status, failure_reason) IS DISTINCT FROM (${status}, ${reason})`
        )
    )

    // Purchase and release markers commit on their own, outside any transaction the caller is in (the business
    // lock's commits only after the provider answered). The table is one of two constants, never input.
    const markers = (table: "purchases_in_flight" | "releases_in_flight", name: "Purchase" | "Release") => ({
      mark: Effect.fn(`Repository.mark${name}InFlight`)((id: BusinessId) =>
        run(
          `Repository.mark${name}InFlight`,
          sql`
          INSERT INTO ${sql(table)} (business_id) VALUES (${id})
          ON CONFLICT (business_id) DO UPDATE SET since = now()`,
          { retry: true }
        ).pipe(outsideTransaction, Effect.asVoid)
      ),
      clear: Effect.fn(`Repository.clear${name}InFlight`)((id: BusinessId) =>
        run(`Repository.clear${name}InFlight`, sql`DELETE FROM ${sql(table)} WHERE business_id = ${id}`, {
          retry: true
        }).pipe(outsideTransaction, Effect.asVoid)
      ),
      since: Effect.fn(`Repository.${name.toLowerCase()}InFlightSince`)((id: BusinessId) =>
        one(
          `Repository.${name.toLowerCase()}InFlightSince`,
          sql`SELECT since FROM ${sql(table)} WHERE business_id = ${id}`,
          toMarkerSince
        )
      )
    })
    const purchases = markers("purchases_in_flight", "Purchase")
    const releases = markers("releases_in_flight", "Release")

    const setBusinessStatus = Effect.fn("Repository.setBusinessStatus")(function* (
      id: BusinessId,
      status: BusinessStatus,
      releaseAt: DateTime.Utc | null
    ) {
      const at = releaseAt === null ? null : DateTime.formatIso(releaseAt)
      const { business } = yield* updateBusiness(
        "Repository.setBusinessStatus",
        id,
        sql`status = ${status}, release_at = ${at}::timestamptz`
      )
      return business
    })

    const recordReleased = Effect.fn("Repository.recordReleased")(function* (id: BusinessId) {
      // One statement: the number kept as history, the business without it, its release marker gone.
      yield* run(
        "Repository.recordReleased",
        sql`
        WITH p AS (
          UPDATE phone_numbers SET released_at = now() WHERE business_id = ${id} AND released_at IS NULL
        ), r AS (
          DELETE FROM releases_in_flight WHERE business_id = ${id}
        )
        UPDATE businesses SET number_status = 'released', release_at = NULL WHERE id = ${id}`
      )
      return yield* businessNow("Repository.recordReleased", id)
    })

    const upsertCall = Effect.fn("Repository.upsertCall")(function* (call: Call) {
      const { startedAt, endedAt } = callTimes(call)
      const upserted = yield* one(
        "Repository.upsertCall",
        sql`
        INSERT INTO calls (vapi_call_id, callable_kind, callable_id, status, ended_reason, from_number, summary, started_at, ended_at)
        VALUES (${call.vapiCallId}, ${call.callableKind}, ${call.callableId}, ${call.status}, ${call.endedReason},
                ${call.from}, ${call.summary}, ${startedAt}, ${endedAt})
        ON CONFLICT (vapi_call_id) DO UPDATE SET
          status = EXCLUDED.status,
          ended_reason = COALESCE(EXCLUDED.ended_reason, calls.ended_reason),
          from_number = COALESCE(EXCLUDED.from_number, calls.from_number),
          summary = COALESCE(EXCLUDED.summary, calls.summary),
          started_at = COALESCE(calls.started_at, EXCLUDED.started_at),
          ended_at = COALESCE(EXCLUDED.ended_at, calls.ended_at),
          updated_at = now()
        RETURNING ${callFields}`,
        toCall,
        { retry: true }
      )
      return upserted ?? (yield* Effect.die(new Error("a call upsert returned no row")))
    })

    return Repository.of({
      createTrial,
      findTrial: (id: TrialId) =>
        one("Repository.findTrial", sql`SELECT ${trialColumns} WHERE t.id = ${id}`, toTrial, { retry: true }),
      findTrialByAssistant: (assistantId: AssistantId) =>
        one(
          "Repository.findTrialByAssistant",
          sql`SELECT ${trialColumns} WHERE t.vapi_assistant_id = ${assistantId} ORDER BY t.created_at DESC LIMIT 1`,
          toTrial,
          { retry: true }
        ),
      convertTrial,
      // The hot routes' read (the owner's GET, both webhooks): on the read pool.
      findBusiness: (id: BusinessId) =>
        Effect.flatMap(
          readPool((client, cols) => client`SELECT ${cols.businessColumns} WHERE b.id = ${id}`),
          (statement) => one("Repository.findBusiness", statement, toBusiness, { retry: true })
        ),
      findBusinessWithOwner: (id: BusinessId) =>
        one(
          "Repository.findBusinessWithOwner",
          sql`SELECT u.email AS owner_email, u.name AS owner_name, ${businessColumns}
              JOIN users u ON u.id = b.owner_id WHERE b.id = ${id}`,
          toBusinessWithOwner,
          { retry: true }
        ),
      businessesOf: (ownerId: UserId) =>
        many(
          "Repository.businessesOf",
          sql`SELECT ${businessColumns} WHERE b.owner_id = ${ownerId} ORDER BY b.created_at DESC LIMIT 100`,
          toBusiness,
          { retry: true }
        ),
      listBusinesses,
      findBusinessByAssistant: (assistantId: AssistantId) =>
        one(
          "Repository.findBusinessByAssistant",
          sql`SELECT ${businessColumns} WHERE b.vapi_assistant_id = ${assistantId} ORDER BY b.created_at DESC LIMIT 1`,
          toBusiness,
          { retry: true }
        ),
      withBusinessLock,
      recordNumber,
      markFailed: (id: BusinessId, reason: FailureReason) =>
        setStatus("Repository.markFailed", id, "failed", reason),
      markPending: (id: BusinessId) => setStatus("Repository.markPending", id, "pending", null),
      setAssistantStatus,
      markPurchaseInFlight: purchases.mark,
      clearPurchaseInFlight: purchases.clear,
      purchaseInFlightSince: purchases.since,
      setBusinessStatus,
      markReleaseInFlight: releases.mark,
      clearReleaseInFlight: releases.clear,
      releaseInFlightSince: releases.since,
      recordReleased,
      upsertCall,
      recentCalls: (callableId: string, limit: number) =>
        many(
          "Repository.recentCalls",
          sql`SELECT ${callFields} FROM calls WHERE callable_id = ${callableId} ORDER BY created_at DESC LIMIT ${limit}`,
          toCall,
          { retry: true }
        ),
      transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        transactionally("Repository.transaction", effect)
    })
  })
)
