// In-memory JobQueue: jobs run on fibers with the same retry policy as the durable queue, one per key at a time.
// `deliveries` hands every job to that many workers at once, to play the at-least-once delivery of a real queue.
import { Context, Duration, Effect, Layer, Queue, Schedule, Scope, Stream, SubscriptionRef } from "effect"
import { type Job, type JobHandler, type JobHandlers, JobQueue } from "../../ports/JobQueue.ts"

export interface MemoryJobQueueOptions {
  readonly concurrency?: number
  /** How many times each job is delivered (1 = once). Duplicates ignore the key, as a redelivery would. */
  readonly deliveries?: number
  /** First retry delay, doubled each time with jitter. */
  readonly retryBase?: Duration.Input
  /** Retries stop once this much time has passed since the first delivery. */
  readonly retryBudget?: Duration.Input
}

export interface Enqueued {
  readonly job: Job
  readonly key: string
  /** False when a job with the same key was already queued or running. */
  readonly accepted: boolean
}

export class MemoryJobQueueControl extends Context.Service<
  MemoryJobQueueControl,
  {
    readonly enqueued: Effect.Effect<ReadonlyArray<Enqueued>>
    /** Waits until no job is queued or running (advance the TestClock meanwhile if jobs back off). */
    readonly awaitIdle: Effect.Effect<void>
    readonly exhausted: Effect.Effect<ReadonlyArray<Job>>
  }
>()("numbers/adapters/memory/MemoryJobQueueControl") {}

export const layer = (options: MemoryJobQueueOptions = {}) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const pending = yield* Queue.unbounded<{ job: Job; key: string; id: string }>()
      const live = new Set<string>()
      const inFlight = yield* SubscriptionRef.make(0)
      const log: Array<Enqueued> = []
      const exhausted: Array<Job> = []
      let serial = 0

      const schedule = Schedule.exponential(options.retryBase ?? "1 second").pipe(
        Schedule.jittered,
        Schedule.while(
          ({ elapsed }) =>
            elapsed < Duration.toMillis(Duration.fromInputUnsafe(options.retryBudget ?? "2 hours"))
        )
      )

      const enqueue = Effect.fn("JobQueue.enqueue")(function* (job: Job, { key }: { readonly key: string }) {
        const scoped = `${job._tag}:${key}`
        const accepted = !live.has(scoped)
        log.push({ job, key, accepted })
        if (!accepted) return
        live.add(scoped)
        yield* SubscriptionRef.update(inFlight, (n) => n + 1)
        yield* Queue.offer(pending, { job, key: scoped, id: `job-${++serial}` })
      })

      const runOne = (handlers: JobHandlers, entry: { job: Job; key: string; id: string }) => {
        const handler = handlers[entry.job._tag] as JobHandler<Job>
        let attempt = 0
        const deliver = Effect.suspend(() =>
          handler.run(entry.job, { jobId: entry.id, attempt: ++attempt })
        ).pipe(
          Effect.sandbox,
          Effect.retry(schedule),
          Effect.catch((cause) =>
            Effect.sync(() => exhausted.push(entry.job)).pipe(
              Effect.andThen(handler.onExhausted(entry.job, cause, { jobId: entry.id, attempt }))
            )
          )
        )
        return Effect.forEach(Array.from({ length: options.deliveries ?? 1 }), () => deliver, {
          concurrency: "unbounded",
          discard: true
        }).pipe(
          Effect.onExit(() =>
            Effect.sync(() => live.delete(entry.key)).pipe(
              Effect.andThen(SubscriptionRef.update(inFlight, (n) => n - 1))
            )
          )
        )
      }

      const work = Effect.fn("JobQueue.work")(function* (handlers: JobHandlers) {
        const scope = yield* Scope.Scope
        const worker = Queue.take(pending).pipe(
          Effect.flatMap((entry) => runOne(handlers, entry)),
          Effect.forever
        )
        for (let i = 0; i < (options.concurrency ?? 8); i++) yield* Effect.forkIn(worker, scope)
      })

      const control = MemoryJobQueueControl.of({
        enqueued: Effect.sync(() => [...log]),
        awaitIdle: SubscriptionRef.changes(inFlight).pipe(
          Stream.filter((n) => n === 0),
          Stream.take(1),
          Stream.runDrain
        ),
        exhausted: Effect.sync(() => [...exhausted])
      })
      return Context.make(JobQueue, JobQueue.of({ enqueue, work })).pipe(
        Context.add(MemoryJobQueueControl, control)
      )
    })
  )
