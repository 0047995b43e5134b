// Use case: a trial becomes a business, once, and its number assignment is queued in the same transaction.
import { Effect } from "effect"
import type { Business } from "../../domain/entities.ts"
import type { TrialId } from "../../domain/ids.ts"
import { AssignNumberJob, JobQueue } from "../../ports/JobQueue.ts"
import { Repository } from "../../ports/Repository.ts"

/**
 * Converts the trial and queues `assign-number` keyed by the business id. Repeat calls answer the
 * same business; while it is still pending they queue again, which the key makes a no-op unless the
 * job was lost. Nothing here talks to Twilio, Vapi or SMTP, so conversion never waits on them.
 */
export const convertTrial = Effect.fn("ConvertTrial")(function* (trialId: TrialId) {
  const repo = yield* Repository
  const jobs = yield* JobQueue
  return yield* repo.transaction(
    Effect.gen(function* () {
      const { business } = yield* repo.convertTrial(trialId)
      if (business.numberStatus === "pending") {
        yield* jobs.enqueue(AssignNumberJob.make({ businessId: business.id }), { key: business.id })
      }
      return business satisfies Business
    })
  )
})
