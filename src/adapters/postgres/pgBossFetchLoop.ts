// One fetch loop per queue over pg-boss's fetch, complete and fail, in place of pg-boss's `work`: each time round
// it settles the jobs that finished and claims as many new ones as there are free slots, in one transaction of
// ours (one commit). Under load, the jobs that finish while a round is in flight are settled together by the
// next, and a slot freed is filled by the round that settles its job: pg-boss's `work` spent a commit on each
// fetch, on each batch's settlement, and on the empty fetch of its second loop (about 5.8 commits an assignment,
// docs/BENCHMARKS.md section 8). Woken when a job is queued (pg-boss's NOTIFY), when a job finishes, and by
// polling as the backstop (a retry due, a missed notification).
import { PgClient } from "@effect/sql-pg"
import { Cause, Duration, Effect, Exit, Fiber, FiberSet, Queue, Schedule, type Scope } from "effect"
import { SqlClient } from "effect/sql"
import type { JobWithMetadata, PgBoss } from "pg-boss"

export type ClaimedJob = JobWithMetadata<object>

export interface FetchLoopOptions {
  readonly queue: string
  /** Jobs of this queue running at once in this process. */
  readonly concurrency: number
  /** How often an idle loop looks for jobs no notification announced (retries coming due). */
  readonly pollInterval: Duration.Duration
  /** How often the running jobs' claims are refreshed (half their heartbeat). */
  readonly heartbeatInterval: Duration.Duration
  /** How long a stop waits for running jobs before interrupting them (they are then failed, and retried). */
  readonly stopTimeout: Duration.Duration
}

/** How a run ended: completed, or failed with what pg-boss stores as the attempt's output. */
interface Settlement {
  readonly job: ClaimedJob
  readonly failure: object | null
}

/**
 * pg-boss's statements on our connection, whatever it is where this runs: inside `sql.withTransaction` (or the
 * repository's transactions) they commit or roll back with the rest. pg-boss hands some JSON values (a job's
 * output) as objects, which `pg` would serialise and our driver does not: they go as JSON text.
 */
export const bossDb = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const run = Effect.runPromiseWith(yield* Effect.context<never>())
  return {
    executeSql: (text: string, values?: Array<unknown>) =>
      run(sql.unsafe(text, values?.map(asParameter) as never)).then((rows) => ({
        rows: rows as Array<unknown>
      }))
  }
})

const asParameter = (value: unknown) =>
  value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Date)
    ? JSON.stringify(value)
    : value

/** Only the attempt that was fetched is settled or refreshed: a claim that lapsed meanwhile is left alone. */
const attemptOf = (job: ClaimedJob) => ({ id: job.id, retryCount: job.retryCount })

/**
 * Runs `run` for each job of the queue until the scope closes; closing stops fetching, waits for the running
 * jobs (up to `stopTimeout`) and settles them. `wake` is offered to whenever a job may be waiting.
 */
export const fetchLoop = Effect.fnUntraced(function* (
  boss: PgBoss,
  options: FetchLoopOptions,
  run: (job: ClaimedJob) => Effect.Effect<void, unknown>,
  wake: Queue.Queue<void>,
  /** After each job ends: wakes the loops of queues a job may have queued on without a notification. */
  afterEach: Effect.Effect<void>
): Effect.fn.Return<void, never, SqlClient.SqlClient | Scope.Scope> {
  const sql = yield* SqlClient.SqlClient
  const running = new Map<string, ClaimedJob>()
  let finished: Array<Settlement> = []
  const fibers = yield* FiberSet.make<void, never>()

  /** Settles `done` and claims up to `free` jobs, committed together, on one of our connections. */
  const round = (done: ReadonlyArray<Settlement>, free: number) =>
    sql.withTransaction(
      Effect.gen(function* () {
        const db = yield* bossDb
        return yield* Effect.tryPromise(async () => {
          const completed = done.filter((s) => s.failure === null).map((s) => attemptOf(s.job))
          if (completed.length > 0) await boss.complete(options.queue, completed, null, { db })
          for (const { job, failure } of done)
            if (failure !== null) await boss.fail(options.queue, attemptOf(job), failure, { db })
          if (free === 0) return []
          const claimed = await boss.fetch<object>(options.queue, {
            batchSize: free,
            includeMetadata: true,
            db
          })
          return claimed as Array<ClaimedJob>
        })
      })
    )

  const start = (job: ClaimedJob) => {
    running.set(job.id, job)
    const ended = (exit: Exit.Exit<unknown, unknown>) =>
      Effect.suspend(() => {
        running.delete(job.id)
        finished.push({
          job,
          // As text: any cause can be stored (an error object may not serialise, and would hold the round up).
          failure: Exit.isSuccess(exit) ? null : { error: Cause.pretty(exit.cause).slice(0, 4000) }
        })
        return Queue.offer(wake, undefined).pipe(Effect.andThen(afterEach))
      })
    return FiberSet.run(
      fibers,
      run(job).pipe(
        // pg-boss's own bound on a run (expireInSeconds): past it the job is failed and retried.
        Effect.timeout(Duration.seconds(job.expireInSeconds)),
        Effect.onExit(ended),
        Effect.exit,
        Effect.asVoid,
        // A round is uninterruptible; the jobs it starts are not (a stop past its timeout interrupts them).
        Effect.interruptible
      )
    )
  }

  /** One round: on a failure (the database down) what finished is kept for the next, after a pause. */
  const turn = Effect.suspend(() => {
    const done = finished
    finished = []
    const free = options.concurrency - running.size
    if (done.length === 0 && free <= 0) return Effect.void
    return round(done, free).pipe(
      Effect.flatMap((claimed) => Effect.forEach(claimed, start, { discard: true })),
      Effect.uninterruptible,
      Effect.catchCause((cause) => {
        finished = [...done, ...finished]
        return Effect.logWarning(`job queue ${options.queue}: fetch failed; trying again`, cause).pipe(
          Effect.andThen(Effect.sleep("1 second"))
        )
      })
    )
  })

  const loop = Effect.gen(function* () {
    while (true) {
      yield* turn
      // Jobs that finished during the round are settled at once; else wait for a job to finish or be queued.
      if (finished.length === 0) yield* Effect.timeoutOption(Queue.take(wake), options.pollInterval)
    }
  })

  // Claims lapse without heartbeats: pg-boss's supervisor then retries the job elsewhere.
  const heartbeat = Effect.suspend(() =>
    running.size === 0
      ? Effect.void
      : Effect.tryPromise(() => boss.touch(options.queue, [...running.values()].map(attemptOf)))
  ).pipe(
    Effect.catchCause((cause) => Effect.logWarning(`job queue ${options.queue}: heartbeat failed`, cause)),
    Effect.repeat(Schedule.spaced(options.heartbeatInterval))
  )

  const looping = yield* Effect.forkScoped(loop)
  const beating = yield* Effect.forkScoped(heartbeat)
  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      yield* Fiber.interrupt(looping)
      yield* Effect.timeoutOption(FiberSet.awaitEmpty(fibers), options.stopTimeout)
      yield* FiberSet.clear(fibers)
      yield* Fiber.interrupt(beating)
      const done = finished
      finished = []
      if (done.length > 0)
        yield* round(done, 0).pipe(
          Effect.catchCause((cause) =>
            Effect.logWarning(`job queue ${options.queue}: ${done.length} jobs not settled at stop`, cause)
          )
        )
    })
  )
})

/**
 * pg-boss's notification channel for its schema (`plans.notifyChannelSql` in pg-boss 12): a job queued on a
 * queue created with `notify: true` notifies it with the queue's name, in the transaction that queued it.
 */
const channelSql = (schema: string) =>
  `SELECT ('pgboss_' || left(encode(sha224('${schema}'::bytea), 'hex'), 24)) AS channel`

/** Offers to each queue's `wake` when a job is queued on it; listened again, with backoff, when it drops. */
export const listenForJobs = Effect.fnUntraced(function* (
  schema: string,
  wakes: ReadonlyMap<string, Queue.Queue<void>>
) {
  const pg = yield* PgClient.PgClient
  const [row] = yield* pg.unsafe<{ readonly channel: string }>(channelSql(schema))
  const channel = row?.channel ?? ""
  const listen = Effect.gen(function* () {
    const notifications = yield* pg.listen(channel)
    // Anything queued while the listener was down is looked for now.
    for (const wake of wakes.values()) yield* Queue.offer(wake, undefined)
    return yield* Queue.take(notifications).pipe(
      Effect.flatMap((n) => {
        const wake = wakes.get(n.payload)
        return wake ? Queue.offer(wake, undefined) : Effect.void
      }),
      Effect.forever
    )
  }).pipe(Effect.scoped)
  yield* listen.pipe(
    Effect.tapError((error) => Effect.logWarning(`job listener lost: ${error._tag}; reconnecting`)),
    Effect.retry(
      Schedule.exponential("100 millis").pipe(
        Schedule.jittered,
        Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(5))))
      )
    ),
    Effect.forkScoped
  )
})
