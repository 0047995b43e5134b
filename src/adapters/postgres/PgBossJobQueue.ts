// JobQueue on pg-boss 12, in the service's own Postgres. One queued-or-running job per key (`exclusive`
// policy + singletonKey), jittered exponential retries for over an hour, a dead-letter queue, heartbeats so
// a dead worker's job is picked up again within a minute, and enqueue inside our own transaction. Jobs are
// fetched and settled by one loop of ours for every queue (pgBossFetchLoop.ts: one commit settles the finished
// jobs and claims new ones); pg-boss's own workers serve only the dead-letter queues.
// Traces cross the queue: an enqueue is a producer span whose W3C traceparent rides in the job's data (beside
// the job's fields, under `_trace`; a job without it, queued before, runs as a trace of its own), and each run
// is a consumer span, its child. The numbers_jobs gauge is read from pgboss.job every 15 s.
import { PgClient } from "@effect/sql-pg"
import { Cause, DateTime, Duration, Effect, Layer, Metric, Option, Redacted, Schedule, Schema } from "effect"
import { Headers, HttpTraceContext } from "effect/http"
import { SqlClient } from "effect/sql"
import type { Job as BossJob, JobWithMetadata } from "pg-boss"
import { PgBoss } from "pg-boss"
import {
  AssignNumberJob,
  type Job,
  type JobHandler,
  type JobHandlers,
  type JobName,
  JobQueue,
  JobQueueUnavailable,
  ReleaseNumberJob,
  SendNumberAssignedEmailJob
} from "../../ports/JobQueue.ts"
import { JOB_STATES, jobs as jobsGauge } from "../../ports/metrics.ts"
import { DatabaseUrl } from "./Database.ts"
import { bossDb, fetchLoop, listenForJobs, type QueueWork } from "./pgBossFetchLoop.ts"

export interface PgBossOptions {
  /** Jobs of each queue in parallel in this process (WORKER_CONCURRENCY). */
  readonly concurrency: number
  /** Idle poll interval (default 1 s); a queued job's NOTIFY wakes its loop at once, polling is the backstop. */
  readonly pollingIntervalSeconds?: number
  /** Retries after the first attempt. With the delays below, 16 spans about 90 minutes. */
  readonly retryLimit?: number
  readonly retryDelaySeconds?: number
  readonly retryDelayMaxSeconds?: number
  /** A running job whose worker stops heartbeating for this long is retried (pg-boss minimum: 10). */
  readonly heartbeatSeconds?: number
  /** How often pg-boss's supervisor looks for such jobs. */
  readonly superviseIntervalSeconds?: number
  /** The `instance` label of numbers_jobs; unset, the gauge is not read by this process. */
  readonly instanceId?: string
  /** How often numbers_jobs is read (default 15). */
  readonly jobsGaugeIntervalSeconds?: number
}

const payloadOf = {
  "assign-number": AssignNumberJob,
  "send-number-assigned-email": SendNumberAssignedEmailJob,
  "release-number": ReleaseNumberJob
}
const names = Object.keys(payloadOf) as ReadonlyArray<JobName>
const deadLetterOf = (name: JobName) => `${name}-dead`

/**
 * Queues whose jobs are queued by another job's transaction (the email, by the assignment that recorded the
 * number). They send no NOTIFY: each one costs every listening connection a commit to receive it (measured:
 * one a listener, docs/BENCHMARKS.md section 10). A job that ends in this process has them looked at instead;
 * another process finds such a job by polling (so does every process for an email queued by a reactivation,
 * within the poll interval).
 */
const queuedByJobs: ReadonlySet<JobName> = new Set(["send-number-assigned-email"])

/** The job data's field that carries the producer's trace context. */
const TRACE = "_trace"

const messaging = (queue: string, operation: "send" | "process") => ({
  "messaging.system": "pg-boss",
  "messaging.operation.name": operation,
  "messaging.operation.type": operation,
  "messaging.destination.name": queue
})

/** The producer's span, from a job's data (none for a job queued before traces crossed the queue). */
const producerOf = (data: object) => {
  const carrier = (data as { readonly [TRACE]?: unknown })[TRACE]
  const traceparent = (carrier as { readonly traceparent?: unknown } | undefined)?.traceparent
  return typeof traceparent === "string"
    ? HttpTraceContext.fromHeaders(Headers.fromInput({ traceparent }))
    : Option.none()
}

/** A job's run as a consumer span, the child of the span that queued it (else the root of its own trace). */
const consumed = (queue: string, bossJob: Pick<JobWithMetadata<object>, "id" | "data" | "retryCount">) => {
  const producer = producerOf(bossJob.data)
  return <A, E, R>(run: Effect.Effect<A, E, R>) =>
    Effect.withSpan(run, `process ${queue}`, {
      kind: "consumer",
      ...(Option.isSome(producer) ? { parent: producer.value } : { root: true }),
      attributes: {
        ...messaging(queue, "process"),
        "messaging.message.id": bossJob.id,
        "pgboss.job.retry_count": bossJob.retryCount
      }
    })
}

const unavailable = (operation: string) => (cause: unknown) =>
  new JobQueueUnavailable({
    message: `${operation}: ${cause instanceof Error ? cause.message.split("\n")[0] : "job queue error"}`
  })

export const layer = (options: PgBossOptions) =>
  Layer.effect(
    JobQueue,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const pg = yield* PgClient.PgClient
      const url = yield* DatabaseUrl
      const boss = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const boss = new PgBoss({
              connectionString: Redacted.value(url),
              application_name: "numbers-jobs",
              // Heartbeats, the dead-letter queues' workers and maintenance: jobs are fetched and settled on our
              // pool (pgBossFetchLoop.ts).
              max: 4,
              // Our fetch loops listen for queued jobs themselves (pgBossFetchLoop.ts); pg-boss's workers here
              // (the dead-letter queues') only poll.
              useListenNotify: false,
              // Looks for jobs whose worker stopped heartbeating: with 30 s heartbeats, found within a minute.
              superviseIntervalSeconds:
                options.superviseIntervalSeconds ??
                Math.max(2, Math.floor((options.heartbeatSeconds ?? 30) / 2)),
              monitorIntervalSeconds:
                options.superviseIntervalSeconds ??
                Math.max(2, Math.floor((options.heartbeatSeconds ?? 30) / 2)),
              registerInstance: false
            })
            boss.on("error", (error: unknown) =>
              console.error(
                `job queue: ${(error instanceof Error ? error.message : String((error as { message?: unknown })?.message ?? "error")).split("\n")[0]}`
              )
            )
            await boss.start()
            for (const name of names) {
              const retry = {
                retryLimit: options.retryLimit ?? 16,
                retryDelay: options.retryDelaySeconds ?? 5,
                retryBackoff: true,
                retryDelayMax: options.retryDelayMaxSeconds ?? 600,
                // An assignment retries for about 90 s at most; anything longer is a stuck worker.
                expireInSeconds: 300,
                heartbeatSeconds: options.heartbeatSeconds ?? 30
              }
              await boss.createQueue(deadLetterOf(name), {
                policy: "standard",
                retryLimit: 5,
                retryBackoff: true
              })
              await boss.createQueue(name, {
                policy: "exclusive",
                notify: !queuedByJobs.has(name),
                deadLetter: deadLetterOf(name),
                ...retry
              })
              await boss.updateQueue(name, {
                deadLetter: deadLetterOf(name),
                notify: !queuedByJobs.has(name),
                ...retry
              })
            }
            return boss
          },
          catch: unavailable("JobQueue.start")
        }),
        (boss) => Effect.promise(() => boss.stop({ graceful: true, timeout: 30_000, close: true }))
      )

      const enqueue = Effect.fnUntraced(
        function* (
          job: Job,
          { key, startAfter }: { readonly key: string; readonly startAfter?: DateTime.Utc | undefined }
        ) {
          // pg-boss runs its INSERT on our connection: inside `Repository.transaction` (or the business lock)
          // the job commits or rolls back with everything else.
          const db = yield* Effect.provideService(bossDb, SqlClient.SqlClient, sql)
          const { _tag, ...data } = job
          const { traceparent } = HttpTraceContext.toHeaders(yield* Effect.orDie(Effect.currentSpan))
          const id = yield* Effect.tryPromise({
            try: () =>
              boss.send(
                _tag,
                { ...data, [TRACE]: { traceparent } },
                {
                  singletonKey: key,
                  db,
                  ...(startAfter ? { startAfter: DateTime.toDateUtc(startAfter) } : {})
                }
              ),
            catch: unavailable("JobQueue.enqueue")
          })
          // No id: a job with this key is queued or running already (the key makes repeats no-ops).
          yield* Effect.annotateCurrentSpan(
            id === null ? { "pgboss.job.deduplicated": true } : { "messaging.message.id": id }
          )
        },
        (enqueued, job) =>
          Effect.withSpan(enqueued, `send ${job._tag}`, {
            kind: "producer",
            attributes: messaging(job._tag, "send")
          })
      )

      // numbers_jobs: each queue's jobs by state, read on this instance's schedule (every instance reads the
      // same table: take max by queue and state across instances). Not traced: a statement every 15 s would
      // be a trace of its own.
      const queues = names.flatMap((name) => [name, deadLetterOf(name)])
      const instance = options.instanceId
      if (instance !== undefined) {
        const readJobs = sql<{ readonly name: string; readonly state: string; readonly count: number }>`
          SELECT name, state::text AS state, count(*)::int AS count FROM pgboss.job
          WHERE name IN ${sql.in(queues)} AND state::text IN ${sql.in(JOB_STATES)}
          GROUP BY name, state`.pipe(
          Effect.flatMap((rows) =>
            Effect.forEach(
              queues.flatMap((queue) => JOB_STATES.map((state) => ({ queue, state }))),
              ({ queue, state }) =>
                Metric.update(
                  Metric.withAttributes(jobsGauge, { queue, state, instance }),
                  rows.find((row) => row.name === queue && row.state === state)?.count ?? 0
                ),
              { discard: true }
            )
          ),
          Effect.catch((error) => Effect.logDebug(`numbers_jobs not read: ${error._tag}`)),
          Effect.withTracerEnabled(false)
        )
        yield* readJobs.pipe(
          Effect.repeat(Schedule.spaced(`${options.jobsGaugeIntervalSeconds ?? 15} seconds`)),
          Effect.forkScoped
        )
      }

      const work = Effect.fn("JobQueue.work")(function* (handlers: JobHandlers) {
        const context = yield* Effect.context<never>()
        const run = Effect.runPromiseWith(context)
        const queues: Array<QueueWork> = []
        for (const name of names) {
          const handler = handlers[name] as JobHandler<Job>
          const decode = Schema.decodeUnknownEffect(payloadOf[name])
          const jobOf = (boss: BossJob<object>) => decode({ ...boss.data, _tag: name }).pipe(Effect.orDie)

          const attempt = (bossJob: JobWithMetadata<object>) =>
            Effect.gen(function* () {
              const job = yield* jobOf(bossJob)
              const ctx = { jobId: bossJob.id, attempt: bossJob.retryCount + 1 }
              // Ended well before pg-boss's supervisor would expire the claim (expireInSeconds, counted from the
              // fetch) and hand it to another worker, leaving time to be interrupted (a statement runs up to 30 s)
              // and settled; a run cut off is retried like any failure.
              const exit = yield* Effect.exit(
                handler
                  .run(job, ctx)
                  .pipe(Effect.timeout(Duration.seconds(Math.max(1, bossJob.expireInSeconds - 60))))
              )
              if (exit._tag === "Success") return
              // The last attempt failed: make it visible now, with its cause, and settle the job.
              if (bossJob.retryCount >= bossJob.retryLimit)
                return yield* handler.onExhausted(job, exit.cause, ctx)
              yield* Effect.logWarning(
                `job ${name} attempt ${ctx.attempt} failed; retrying`,
                Cause.pretty(exit.cause)
              )
              return yield* Effect.failCause(exit.cause)
            }).pipe(consumed(name, bossJob), Effect.annotateLogs({ jobId: bossJob.id, job: name }))

          queues.push({
            queue: name,
            concurrency: options.concurrency,
            run: attempt,
            announced: !queuedByJobs.has(name)
          })

          // A job whose worker died on its last attempt lands here, with no cause to tell.
          yield* Effect.tryPromise({
            try: () =>
              boss.work<object>(
                deadLetterOf(name),
                { includeMetadata: true, pollingIntervalSeconds: 5 },
                ([bossJob]) =>
                  bossJob
                    ? run(
                        jobOf(bossJob).pipe(
                          Effect.flatMap((job) =>
                            handler.onExhausted(job, Cause.die(new Error("retry budget exhausted")), {
                              jobId: bossJob.id,
                              attempt: bossJob.retryCount + 1
                            })
                          ),
                          consumed(deadLetterOf(name), bossJob),
                          Effect.annotateLogs({ jobId: bossJob.id, job: deadLetterOf(name) })
                        )
                      )
                    : Promise.resolve()
              ),
            catch: unavailable("JobQueue.work")
          })
        }
        const announce = yield* fetchLoop(boss, queues, {
          pollInterval: Duration.seconds(options.pollingIntervalSeconds ?? 1),
          heartbeatInterval: Duration.seconds((options.heartbeatSeconds ?? 30) / 2),
          stopTimeout: Duration.seconds(30)
        }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
        yield* listenForJobs("pgboss", names, announce).pipe(
          Effect.provideService(PgClient.PgClient, pg),
          Effect.mapError(unavailable("JobQueue.work"))
        )
        // Closing the scope stops fetching; running jobs finish (the fetch loop waits for them).
        yield* Effect.addFinalizer(() =>
          Effect.promise(() => Promise.all(names.map((n) => boss.offWork(deadLetterOf(n)))))
        )
      })

      return JobQueue.of({ enqueue, work })
    })
  )
