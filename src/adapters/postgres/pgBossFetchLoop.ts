// One fetch loop for every queue over pg-boss's fetch, complete and fail, in place of pg-boss's `work`: each time
// round it settles the jobs that finished, of any queue, and claims as many new ones as each queue with jobs
// waiting has free slots, in one transaction of ours (one commit). Under load, the jobs that finish while a round
// is in flight are settled together by the next, and a slot freed is filled by the round that settles its job:
// pg-boss's `work` spent a commit on each queue's fetch, on each batch's settlement, and on the empty fetch of its
// second loop (docs/BENCHMARKS.md, sections 8 and 10). A queue is looked at when a job is queued on it (pg-boss's
// NOTIFY, or a job of this process ending, for the queues whose jobs are queued by jobs), when its last fetch
// came back full, and on every poll (the backstop: a retry come due, a notification missed).
import { PgClient } from "@effect/sql-pg"
import {
  Cause,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberSet,
  Option,
  Queue,
  Schedule,
  type Scope,
  Semaphore
} from "effect"
import { SqlClient } from "effect/sql"
import type { JobWithMetadata, PgBoss } from "pg-boss"

export type ClaimedJob = JobWithMetadata<object>

export interface QueueWork {
  readonly queue: string
  /** Jobs of this queue running at once in this process. */
  readonly concurrency: number
  readonly run: (job: ClaimedJob) => Effect.Effect<void, unknown>
  /**
   * Whether a job queued on it is announced by NOTIFY. If not (its jobs are queued by another job's
   * transaction), it is looked at whenever a job of this process ends, and on every poll.
   */
  readonly announced: boolean
}

export interface FetchLoopOptions {
  /** How often every queue is looked at without a wake-up. */
  readonly pollInterval: Duration.Duration
  /** How often the running jobs' claims are refreshed (half their heartbeat). */
  readonly heartbeatInterval: Duration.Duration
  /** How long a stop waits for running jobs before interrupting them (they are then failed, and retried). */
  readonly stopTimeout: Duration.Duration
}

/** How a run ended: completed, or failed with what pg-boss stores as the attempt's output. */
interface Settlement {
  readonly queue: string
  readonly job: ClaimedJob
  readonly failure: object | null
}

interface QueueState {
  readonly work: QueueWork
  readonly running: Map<string, ClaimedJob>
  /** Jobs may be waiting: queued since the last fetch, or the last fetch came back full. */
  due: boolean
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
 * Runs each queue's jobs until the scope closes; closing stops fetching, waits for the running jobs (up to
 * `stopTimeout`) and settles them. Returns `announce`, to call when a job was queued on a queue (its NOTIFY).
 */
export const fetchLoop = Effect.fnUntraced(function* (
  boss: PgBoss,
  queues: ReadonlyArray<QueueWork>,
  options: FetchLoopOptions
): Effect.fn.Return<(queue: string) => Effect.Effect<void>, never, SqlClient.SqlClient | Scope.Scope> {
  const sql = yield* SqlClient.SqlClient
  const states = new Map<string, QueueState>(
    queues.map((work) => [work.queue, { work, running: new Map(), due: true }])
  )
  let finished: Array<Settlement> = []
  // What the round in flight is settling: still refreshed by the heartbeat until it commits.
  let settling: ReadonlyArray<Settlement> = []
  let stopping = false
  const signal = yield* Queue.sliding<void>(1)
  const rounds = yield* Semaphore.make(1)
  const fibers = yield* FiberSet.make<void, never>()

  const freeSlots = (state: QueueState) => state.work.concurrency - state.running.size

  const announce = (queue: string) =>
    Effect.suspend(() => {
      const state = states.get(queue)
      if (state) state.due = true
      return Queue.offer(signal, undefined)
    })

  /** Settles `done` and claims up to each `fetches` entry's free slots, committed together, on our connection. */
  const round = (
    done: ReadonlyArray<Settlement>,
    fetches: ReadonlyArray<{ readonly queue: string; readonly free: number }>
  ) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          const db = yield* bossDb
          return yield* Effect.tryPromise(async () => {
            for (const queue of new Set(done.map((s) => s.queue))) {
              const completed = done.filter((s) => s.queue === queue && s.failure === null)
              if (completed.length > 0)
                await boss.complete(
                  queue,
                  completed.map((s) => attemptOf(s.job)),
                  null,
                  { db }
                )
            }
            for (const { queue, job, failure } of done)
              if (failure !== null) await boss.fail(queue, attemptOf(job), failure, { db })
            const claimed: Array<{
              readonly queue: string
              readonly free: number
              readonly jobs: Array<ClaimedJob>
            }> = []
            for (const { queue, free } of fetches) {
              const jobs = await boss.fetch<object>(queue, { batchSize: free, includeMetadata: true, db })
              claimed.push({ queue, free, jobs: jobs as Array<ClaimedJob> })
            }
            return claimed
          })
        })
      )
      // Not traced: a round a second per idle process would be a trace of its own; each job's run is one.
      .pipe(Effect.withTracerEnabled(false))

  const start = (state: QueueState, job: ClaimedJob) => {
    state.running.set(job.id, job)
    const ended = (exit: Exit.Exit<unknown, unknown>) =>
      Effect.suspend(() => {
        // A later attempt of the same job (this one's claim lapsed, and this process fetched it again) keeps its
        // entry.
        if (state.running.get(job.id) === job) state.running.delete(job.id)
        finished.push({
          queue: state.work.queue,
          job,
          failure: Exit.isSuccess(exit) ? null : { error: storable(prettyOrNot(exit.cause)) }
        })
        // The job may have queued one on a queue that is not announced.
        for (const other of states.values()) if (!other.work.announced) other.due = true
        return Queue.offer(signal, undefined)
      })
    return FiberSet.run(
      fibers,
      // A round is uninterruptible; the jobs it starts are not (a stop past its timeout interrupts them).
      state.work.run(job).pipe(Effect.onExit(ended), Effect.exit, Effect.asVoid, Effect.interruptible)
    )
  }

  const wanted = () =>
    stopping
      ? []
      : [...states.values()].flatMap((state) =>
          state.due && freeSlots(state) > 0 ? [{ queue: state.work.queue, free: freeSlots(state) }] : []
        )

  /**
   * One round, uninterruptible from choosing its batch to starting the jobs it claimed (or putting the batch
   * back, when it failed: the database down). A stop waits for a round in flight (`rounds`), so that the jobs it
   * claims are waited for too. The pause after a failure is interruptible.
   */
  const turn = rounds
    .withPermits(1)(
      Effect.suspend(() => {
        const done = finished
        const fetches = wanted()
        if (done.length === 0 && fetches.length === 0)
          return Effect.succeed(Option.none<Cause.Cause<unknown>>())
        finished = []
        settling = done
        for (const { queue } of fetches) (states.get(queue) as QueueState).due = false
        return round(done, fetches).pipe(
          Effect.exit,
          Effect.flatMap((exit) => {
            settling = []
            if (Exit.isSuccess(exit))
              return Effect.as(
                Effect.forEach(
                  exit.value,
                  ({ queue, free, jobs }) => {
                    const state = states.get(queue) as QueueState
                    // Full: more may be waiting, fetched as soon as a slot frees.
                    if (jobs.length === free) state.due = true
                    return Effect.forEach(jobs, (job) => start(state, job), { discard: true })
                  },
                  { discard: true }
                ),
                Option.none<Cause.Cause<unknown>>()
              )
            finished = [...done, ...finished]
            for (const { queue } of fetches) (states.get(queue) as QueueState).due = true
            return Effect.succeed(Option.some(exit.cause))
          })
        )
      })
    )
    .pipe(
      Effect.uninterruptible,
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.void,
          onSome: (cause) =>
            Effect.logWarning("job queue: a round failed; trying again", cause).pipe(
              Effect.andThen(Effect.sleep("1 second"))
            )
        })
      )
    )

  const loop = Effect.gen(function* () {
    while (true) {
      yield* turn
      // Another round at once if jobs finished during this one or a queue is due with a free slot; else wait.
      if (finished.length > 0 || wanted().length > 0) continue
      yield* Queue.take(signal)
    }
  })

  // The backstop, on its own clock (a busy loop is woken often, and would otherwise never reach a poll): every
  // queue is looked at each interval, for jobs no notification announced (a retry or a release come due).
  const poll = Effect.suspend(() => {
    for (const state of states.values()) state.due = true
    return Queue.offer(signal, undefined)
  }).pipe(Effect.repeat(Schedule.spaced(options.pollInterval)))

  // Claims lapse without heartbeats (pg-boss's supervisor then retries the job elsewhere): a job is refreshed
  // from its fetch until its settlement commits, running or waiting to be settled.
  const heartbeat = Effect.suspend(() => {
    const held = [...states.values()].map((state) => ({
      queue: state.work.queue,
      jobs: [
        ...state.running.values(),
        ...[...settling, ...finished].filter((s) => s.queue === state.work.queue).map((s) => s.job)
      ]
    }))
    return Effect.forEach(
      held.filter(({ jobs }) => jobs.length > 0),
      ({ queue, jobs }) =>
        Effect.tryPromise(() => boss.touch(queue, jobs.map(attemptOf))).pipe(
          Effect.catchCause((cause) => Effect.logWarning(`job queue ${queue}: heartbeat failed`, cause))
        ),
      { discard: true }
    )
  }).pipe(Effect.repeat(Schedule.spaced(options.heartbeatInterval)))

  const looping = yield* Effect.forkScoped(loop)
  const polling = yield* Effect.forkScoped(Effect.delay(poll, options.pollInterval))
  const beating = yield* Effect.forkScoped(heartbeat)
  // A stop claims nothing more, lets the running jobs finish (settled as they end, and refreshed meanwhile),
  // interrupts those still running at the deadline (failed: retried), and settles the rest.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      stopping = true
      yield* Fiber.interrupt(polling)
      // A round in flight may still claim jobs: they are started before this goes on, and waited for below.
      yield* rounds.withPermits(1)(Effect.void)
      yield* Queue.offer(signal, undefined)
      yield* Effect.timeoutOption(FiberSet.awaitEmpty(fibers), options.stopTimeout)
      yield* FiberSet.clear(fibers)
      yield* Fiber.interrupt(looping)
      const done = finished
      finished = []
      settling = done
      if (done.length > 0)
        yield* round(done, []).pipe(
          Effect.timeout("10 seconds"),
          Effect.catchCause((cause) =>
            Effect.logWarning(
              `job queue: ${done.length} jobs not settled at stop (their claims lapse)`,
              cause
            )
          )
        )
      yield* Fiber.interrupt(beating)
    })
  )
  return announce
})

/** A cause's text; one that cannot be rendered still settles its job. */
const prettyOrNot = (cause: Cause.Cause<unknown>) => {
  try {
    return Cause.pretty(cause)
  } catch {
    return "the run failed (its cause could not be rendered)"
  }
}

/**
 * A failure's text as jsonb takes it: no NUL, no lone surrogate, at most 4,000 code points (a settlement
 * Postgres refused would be tried again by every round, and hold the others up).
 */
const storable = (text: string) =>
  Array.from(text.slice(0, 8000).replaceAll("\u0000", "").toWellFormed()).slice(0, 4000).join("")

/**
 * pg-boss's notification channel for its schema (`plans.notifyChannelSql` in pg-boss 12): a job queued on a
 * queue created with `notify: true` notifies it with the queue's name, in the transaction that queued it.
 */
const channelSql = (schema: string) =>
  `SELECT ('pgboss_' || left(encode(sha224('${schema}'::bytea), 'hex'), 24)) AS channel`

/**
 * Calls `announce` with a queue's name when a job is queued on it; listened again, with backoff, when it drops,
 * and every queue announced each time it is up (what was queued while it was down).
 */
export const listenForJobs = Effect.fnUntraced(function* (
  schema: string,
  queues: ReadonlyArray<string>,
  announce: (queue: string) => Effect.Effect<void>
) {
  const pg = yield* PgClient.PgClient
  const [row] = yield* pg.unsafe<{ readonly channel: string }>(channelSql(schema))
  const channel = row?.channel ?? ""
  const listen = Effect.gen(function* () {
    const notifications = yield* pg.listen(channel)
    yield* Effect.forEach(queues, announce, { discard: true })
    return yield* Queue.take(notifications).pipe(
      Effect.flatMap((n) => announce(n.payload)),
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
