// Port: durable background jobs (pg-boss in production), delivered at least once.
import { type Cause, Context, type DateTime, type Effect, Schema, type Scope } from "effect"
import { BusinessId } from "../domain/ids.ts"

export const AssignNumberJob = Schema.TaggedStruct("assign-number", { businessId: BusinessId })
export const SendNumberAssignedEmailJob = Schema.TaggedStruct("send-number-assigned-email", {
  businessId: BusinessId
})

/** The email job's key: one per number (I4), so a business given a new number after a release hears again. */
export const numberAssignedEmailKey = (businessId: BusinessId, twilioSid: string): string =>
  `number-assigned-email:${businessId}:${twilioSid}`
/** Release the business's number at `releaseAt` (ISO), if the business is then still cancelled with that time. */
export const ReleaseNumberJob = Schema.TaggedStruct("release-number", {
  businessId: BusinessId,
  releaseAt: Schema.String
})
export const Job = Schema.Union([AssignNumberJob, SendNumberAssignedEmailJob, ReleaseNumberJob])
export type Job = typeof Job.Type
export type JobName = Job["_tag"]

export class JobQueueUnavailable extends Schema.TaggedError<JobQueueUnavailable>()("JobQueueUnavailable", {
  message: Schema.String
}) {}

export interface JobContext {
  readonly jobId: string
  /** 1 on the first delivery. */
  readonly attempt: number
}

export interface JobHandler<J extends Job> {
  /** A failure or defect is retried with jittered exponential backoff until the queue's budget is spent. */
  readonly run: (job: J, context: JobContext) => Effect.Effect<void, unknown>
  /** Called once when the budget is spent: make the failure visible. */
  readonly onExhausted: (job: J, cause: Cause.Cause<unknown>, context: JobContext) => Effect.Effect<void>
}

export type JobHandlers = { readonly [N in JobName]: JobHandler<Extract<Job, { _tag: N }>> }

export interface JobQueueShape {
  /**
   * Adds a job unless one with the same key is queued or running. Inside
   * `Repository.transaction` it commits or rolls back with the transaction.
   */
  readonly enqueue: (
    job: Job,
    options: {
      readonly key: string
      /** Not run before this time (a release scheduled for the day before the number's next bill). */
      readonly startAfter?: DateTime.Utc | undefined
    }
  ) => Effect.Effect<void, JobQueueUnavailable>
  /** Runs the handlers until the scope closes; closing stops fetching and lets running jobs finish. */
  readonly work: (handlers: JobHandlers) => Effect.Effect<void, JobQueueUnavailable, Scope.Scope>
}

export class JobQueue extends Context.Service<JobQueue, JobQueueShape>()("numbers/ports/JobQueue") {}
