// Use cases behind the API: create a trial, read an owner's businesses, and try a failed assignment again.
import { Effect, Schema } from "effect"
import { Email } from "../../domain/entities.ts"
import { AlreadyAssigned, BusinessNotFound } from "../../domain/errors.ts"
import { AssistantId, type BusinessId } from "../../domain/ids.ts"
import { type Caller, owns } from "../../domain/ownership.ts"
import { AreaCode } from "../../domain/phone.ts"
import { AssignNumberJob, JobQueue } from "../../ports/JobQueue.ts"
import { Repository } from "../../ports/Repository.ts"

const Text = (max: number) => Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(max))

/** `POST /api/trials` body. An invalid requested area code is refused here (NANP rules), with its field named. */
export const NewTrialInput = Schema.Struct({
  ownerEmail: Email,
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
 * that has its number but whose assistant is not connected has the assistant pointed again by the same job.
 */
export const retryAssignment = Effect.fn("RetryAssignment")(function* (id: BusinessId) {
  const repo = yield* Repository
  const jobs = yield* JobQueue
  return yield* repo.withBusinessLock(id, (business) =>
    Effect.gen(function* () {
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
