// In-memory JobQueue: jobs run on fibers with the same retry policy as the durable queue, one per key at a time.
// `deliveries` hands every job to that many workers at once, to play the at-least-once delivery of a real queue.
// Its state is one immutable value in a SubscriptionRef (so a test can wait for the queue to be idle).
import {
  Context,
  DateTime,
  Duration,
  Effect,
  Layer,
  Queue,
  Ref,
  Schedule,
  Scope,
  Stream,
  SubscriptionRef
} from "effect"
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
    /**
     * Waits until no job is queued or running (advance the TestClock meanwhile if jobs back off). Jobs for later
     * do not count until their time comes: advance the clock past it to have them run.
     */
    readonly awaitIdle: Effect.Effect<void>
  }
>()("numbers/adapters/memory/MemoryJobQueueControl") {}

interface Entry {
  readonly job: Job
  /** The job's name and key: one job per scoped key is queued or running at a time. */
  readonly key: string
  readonly id: string
}

interface State {
  /** Scoped keys of the jobs queued or running. */
  readonly live: ReadonlySet<string>
  /** Scoped keys of the live jobs waiting for their start time (not runnable yet: the queue can be idle). */
  readonly scheduled: ReadonlySet<string>
  readonly enqueued: ReadonlyArray<Enqueued>
  /** Jobs accepted so far: the next job id's serial. */
  readonly serial: number
}

/** Accepts the job unless one with its key is queued or running; every call is recorded. */
const enqueueStep =
  (job: Job, key: string) =>
  (s: State): readonly [Entry | null, State] => {
    const scoped = `${job._tag}:${key}`
    const accepted = !s.live.has(scoped)
    const enqueued = [...s.enqueued, { job, key, accepted }]
    if (!accepted) return [null, { ...s, enqueued }]
    const serial = s.serial + 1
    return [
      { job, key: scoped, id: `job-${serial}` },
      { ...s, live: new Set(s.live).add(scoped), enqueued, serial }
    ]
  }

const scheduleStep =
  (key: string, waiting: boolean) =>
  (s: State): State => ({
    ...s,
    scheduled: waiting ? new Set(s.scheduled).add(key) : new Set([...s.scheduled].filter((k) => k !== key))
  })

const finishStep =
  (key: string) =>
  (s: State): State => ({ ...s, live: new Set([...s.live].filter((k) => k !== key)) })

export const layer = (options: MemoryJobQueueOptions = {}) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const pending = yield* Queue.unbounded<Entry>()
      const layerScope = yield* Scope.Scope
      const state = yield* SubscriptionRef.make<State>({
        live: new Set(),
        scheduled: new Set(),
        enqueued: [],
        serial: 0
      })

      const schedule = Schedule.exponential(options.retryBase ?? "1 second").pipe(
        Schedule.jittered,
        Schedule.while(
          ({ elapsed }) =>
            elapsed < Duration.toMillis(Duration.fromInputUnsafe(options.retryBudget ?? "2 hours"))
        )
      )

      const enqueue = Effect.fn("JobQueue.enqueue")(function* (
        job: Job,
        { key, startAfter }: { readonly key: string; readonly startAfter?: DateTime.Utc | undefined }
      ) {
        const entry = yield* SubscriptionRef.modify(state, enqueueStep(job, key))
        if (!entry) return
        const wait = startAfter ? DateTime.distance(yield* DateTime.now, startAfter) : Duration.zero
        // A job for later waits on a fiber of its own (on the clock: a test advances it), not on a worker.
        if (Duration.isGreaterThan(wait, Duration.zero)) {
          yield* SubscriptionRef.update(state, scheduleStep(entry.key, true))
          yield* Effect.forkIn(
            Effect.sleep(wait).pipe(
              Effect.andThen(SubscriptionRef.update(state, scheduleStep(entry.key, false))),
              Effect.andThen(Queue.offer(pending, entry))
            ),
            layerScope
          )
        } else yield* Queue.offer(pending, entry)
      })

      const runOne = (handlers: JobHandlers, entry: Entry) =>
        Effect.gen(function* () {
          const handler = handlers[entry.job._tag] as JobHandler<Job>
          // The deliveries of one job count their attempts together, as redeliveries of one queued job do.
          const attempts = yield* Ref.make(0)
          const deliver = Ref.updateAndGet(attempts, (n) => n + 1).pipe(
            Effect.flatMap((attempt) => handler.run(entry.job, { jobId: entry.id, attempt })),
            Effect.sandbox,
            Effect.retry(schedule),
            Effect.catch((cause) =>
              Effect.flatMap(Ref.get(attempts), (attempt) =>
                handler.onExhausted(entry.job, cause, { jobId: entry.id, attempt })
              )
            )
          )
          yield* Effect.forEach(Array.from({ length: options.deliveries ?? 1 }), () => deliver, {
            concurrency: "unbounded",
            discard: true
          })
        }).pipe(Effect.onExit(() => SubscriptionRef.update(state, finishStep(entry.key))))

      const work = Effect.fn("JobQueue.work")(function* (handlers: JobHandlers) {
        const scope = yield* Scope.Scope
        const worker = Queue.take(pending).pipe(
          Effect.flatMap((entry) => runOne(handlers, entry)),
          Effect.forever
        )
        yield* Effect.forEach(
          Array.from({ length: options.concurrency ?? 8 }),
          () => Effect.forkIn(worker, scope),
          {
            discard: true
          }
        )
      })

      const control = MemoryJobQueueControl.of({
        enqueued: Effect.map(SubscriptionRef.get(state), (s) => s.enqueued),
        awaitIdle: SubscriptionRef.changes(state).pipe(
          Stream.filter((s) => s.live.size === s.scheduled.size),
          Stream.take(1),
          Stream.runDrain
        )
      })
      return Context.make(JobQueue, JobQueue.of({ enqueue, work })).pipe(
        Context.add(MemoryJobQueueControl, control)
      )
    })
  )
