// Use cases behind the API: create a trial, list and read businesses (an owner's own; every one for a service
// or an operator), and try a failed assignment again.
import { Effect, Schema } from "effect"
import { type AssistantStatus, type BusinessStatus, Email, type NumberStatus } from "../../domain/entities.ts"
import { AlreadyAssigned, BusinessCancelled, BusinessNotFound } from "../../domain/errors.ts"
import { AssistantId, type BusinessId } from "../../domain/ids.ts"
import { type Caller, owns } from "../../domain/ownership.ts"
import { AreaCode } from "../../domain/phone.ts"
import { AssignNumberJob, JobQueue } from "../../ports/JobQueue.ts"
import { type BusinessCursor, Repository } from "../../ports/Repository.ts"

/** What a blank name may be made of, and what no name may hold (below). */
const INVISIBLE = /[\s\u200B-\u200D\u2060\uFEFF]/g
const UNREADABLE = /[\p{Cc}\p{Cs}\p{Zl}\p{Zp}\u202A-\u202E\u2066-\u2069]/u

/**
 * A name a person typed: not blank, on one line, at most `max` long. Control and format characters that change
 * how the line reads are refused here: Postgres cannot store NUL, a line break has no place in a name, a lone
 * surrogate would be stored as a replacement character, and a direction override would reorder the text
 * around it in the email and on the dashboard.
 */
const Text = (max: number) =>
  Schema.String.check(
    Schema.isNonEmpty(),
    Schema.isMaxLength(max),
    Schema.makeFilter((text) => text.replace(INVISIBLE, "") !== "" || "must not be blank"),
    Schema.makeFilter(
      (text) =>
        !UNREADABLE.test(text) ||
        "must not hold control characters (line breaks, tabs, NUL, direction overrides or lone surrogates)"
    )
  )

// No spaces, control characters or RFC 5322's specials but "@" and ".": an address a mailer reads back as
// exactly the one stored (`"<>` would have it read a display name and another address). Written without
// Unicode classes, so that the OpenAPI document's pattern reads the same in any regex dialect; surrogates are
// refused with the rest (an address of emoji is not one an owner gives). Checked on the way in only:
// addresses stored before this check are still read.
const ADDRESS_PART = String.raw`[^\s\x00-\x1f\x7f-\x9f\ud800-\udfff@"<>()[\]\\,;:]+`
const OwnerEmail = Email.check(
  Schema.isPattern(new RegExp(`^${ADDRESS_PART}@${ADDRESS_PART}\\.${ADDRESS_PART}$`), {
    message: "an email address, like owner@example.com"
  })
)

/** `POST /api/trials` body. An invalid requested area code is refused here (NANP rules), with its field named. */
export const NewTrialInput = Schema.Struct({
  ownerEmail: OwnerEmail,
  ownerName: Text(200),
  businessName: Text(200),
  vapiAssistantId: AssistantId,
  requestedAreaCode: Schema.optional(Schema.NullOr(AreaCode))
})
export type NewTrialInput = typeof NewTrialInput.Type

export const createTrial = Effect.fn("CreateTrial")(function* (input: NewTrialInput) {
  return yield* (yield* Repository).createTrial({
    ...input,
    requestedAreaCode: input.requestedAreaCode ?? null
  })
})

/** How many businesses a page holds when the caller does not say, and at most. */
export const PAGE_SIZE = { default: 50, max: 100 } as const

export interface BusinessesQuery {
  readonly numberStatus?: NumberStatus | undefined
  readonly assistantStatus?: AssistantStatus | undefined
  readonly status?: BusinessStatus | undefined
  readonly limit?: number | undefined
  readonly cursor?: BusinessCursor | undefined
}

/** A page of the businesses the caller may see (an owner's own; all for a service or an operator), with counts. */
export const listBusinesses = Effect.fn("ListBusinesses")(function* (caller: Caller, query: BusinessesQuery) {
  return yield* (yield* Repository).listBusinesses({
    ownerId: caller.role === "owner" ? caller.userId : undefined,
    numberStatus: query.numberStatus,
    assistantStatus: query.assistantStatus,
    status: query.status,
    limit: Math.min(query.limit ?? PAGE_SIZE.default, PAGE_SIZE.max),
    cursor: query.cursor
  })
})

/** The business, if the caller may see it; another owner's business is "not found" (owners learn nothing). */
export const businessFor = Effect.fn("GetBusiness")(function* (caller: Caller, id: BusinessId) {
  const business = yield* (yield* Repository).findBusiness(id)
  if (!business || (caller.role === "owner" && !owns(caller.userId, business))) {
    return yield* new BusinessNotFound({ businessId: id })
  }
  return business
})

export const recentCallsOf = Effect.fn("RecentCalls")(function* (caller: Caller, id: BusinessId) {
  const business = yield* businessFor(caller, id)
  return yield* (yield* Repository).recentCalls(business.id, 20)
})

/**
 * A failed assignment goes back to pending and is queued again; a pending one is already queued. A business
 * that has its number but whose assistant is not connected has the assistant pointed again by the same job. A
 * cancelled business gets no number: it is reactivated instead (BusinessCancelled).
 */
export const retryAssignment = Effect.fn("RetryAssignment")(function* (id: BusinessId) {
  const repo = yield* Repository
  const jobs = yield* JobQueue
  return yield* repo.withBusinessLock(id, (business) =>
    Effect.gen(function* () {
      if (business.status === "cancelled") return yield* new BusinessCancelled({ businessId: id })
      if (business.numberStatus === "assigned") {
        if (business.assistantStatus === "connected") return yield* new AlreadyAssigned({ businessId: id })
        const { business: repointing } = yield* repo.setAssistantStatus(id, "pending", null)
        yield* jobs.enqueue(AssignNumberJob.make({ businessId: id }), { key: id })
        return repointing
      }
      const pending = business.numberStatus === "failed" ? yield* repo.markPending(id) : business
      yield* jobs.enqueue(AssignNumberJob.make({ businessId: id }), { key: id })
      return pending
    })
  )
})
