// What each durable job does, and what happens when its retry budget is spent.
import { Cause, Effect } from "effect"
import type { Assistant } from "../../ports/Assistant.ts"
import type { Broadcaster } from "../../ports/Broadcaster.ts"
import { ErrorReporter } from "../../ports/ErrorReporter.ts"
import type { JobHandlers, JobQueue } from "../../ports/JobQueue.ts"
import type { Mailer } from "../../ports/Mailer.ts"
import type { Repository } from "../../ports/Repository.ts"
import type { Telephony } from "../../ports/Telephony.ts"
import { assignNumber, failAssignment, failureReasonOf } from "./AssignNumber.ts"
import { failRelease, releaseNumber } from "./NumberLifecycle.ts"
import { sendNumberAssignedEmail } from "./SendNumberAssignedEmail.ts"
import type { Settings } from "./Settings.ts"

export type JobServices =
  | Repository
  | Telephony
  | Assistant
  | Mailer
  | Broadcaster
  | ErrorReporter
  | JobQueue
  | Settings

export const jobHandlers: Effect.Effect<JobHandlers, never, JobServices> = Effect.gen(function* () {
  const services = yield* Effect.context<JobServices>()
  const reporter = yield* ErrorReporter
  return {
    "assign-number": {
      run: (job, { jobId }) =>
        assignNumber(job.businessId).pipe(
          Effect.annotateLogs({ businessId: job.businessId, jobId }),
          Effect.provideContext(services)
        ),
      // The budget (an hour and more of provider trouble) is spent: the business fails visibly.
      onExhausted: (job, cause, { jobId }) =>
        failAssignment(job.businessId, failureReasonOf(cause), cause).pipe(
          Effect.annotateLogs({ businessId: job.businessId, jobId }),
          Effect.provideContext(services),
          Effect.catchCause((failure) =>
            reporter.report(Cause.combine(cause, failure), {
              businessId: job.businessId,
              jobId,
              operation: "AssignNumber.fail"
            })
          ),
          Effect.asVoid
        )
    },
    "send-number-assigned-email": {
      run: (job, { jobId }) =>
        sendNumberAssignedEmail(job.businessId).pipe(
          Effect.annotateLogs({ businessId: job.businessId, jobId }),
          Effect.provideContext(services)
        ),
      onExhausted: (job, cause, { jobId }) =>
        reporter.report(cause, { businessId: job.businessId, jobId, operation: "SendNumberAssignedEmail" })
    },
    "release-number": {
      run: (job, { jobId }) =>
        releaseNumber(job.businessId, job.releaseAt).pipe(
          Effect.annotateLogs({ jobId }),
          Effect.provideContext(services)
        ),
      // Still cancelled and due, and visible as such (the operator's view lists it): tried again later.
      onExhausted: (job, cause, { jobId }) =>
        failRelease(job.businessId, job.releaseAt, cause).pipe(
          Effect.annotateLogs({ jobId }),
          Effect.provideContext(services),
          Effect.catchCause((failure) =>
            reporter.report(Cause.combine(cause, failure), {
              businessId: job.businessId,
              jobId,
              operation: "ReleaseNumber.fail"
            })
          )
        )
    }
  }
})
