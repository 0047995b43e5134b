import { assert, layer } from "@effect/vitest"
import { DateTime, Duration, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { TestClock } from "effect/testing"
import { PgBoss } from "pg-boss"
import * as MemoryAssistant from "../../src/adapters/memory/MemoryAssistant.ts"
import * as MemoryBroadcaster from "../../src/adapters/memory/MemoryBroadcaster.ts"
import * as MemoryErrorReporter from "../../src/adapters/memory/MemoryErrorReporter.ts"
import * as MemoryMailer from "../../src/adapters/memory/MemoryMailer.ts"
import { MemoryMailerControl } from "../../src/adapters/memory/MemoryMailer.ts"
import * as MemoryTelephony from "../../src/adapters/memory/MemoryTelephony.ts"
import { DatabaseUrl } from "../../src/adapters/postgres/Database.ts"
import * as PgBossJobQueue from "../../src/adapters/postgres/PgBossJobQueue.ts"
import * as PostgresRepository from "../../src/adapters/postgres/PostgresRepository.ts"
import { convertTrial } from "../../src/app/usecases/ConvertTrial.ts"
import { jobHandlers } from "../../src/app/usecases/jobHandlers.ts"
import { Settings } from "../../src/app/usecases/Settings.ts"
import { AssignNumberJob, JobQueue, ReleaseNumberJob } from "../../src/ports/JobQueue.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { testDatabase } from "../support/database.ts"
import { newTrial } from "../support/fixtures.ts"

/** The queue on Postgres with the repository, and in-memory providers: each suite's queue and Twilio differ. */
const queueStack = (
  queue: PgBossJobQueue.PgBossOptions,
  telephony: MemoryTelephony.MemoryTelephonyOptions,
  options: { readonly inLockRetryBudget?: Duration.Duration; readonly maxConnections?: number } = {}
) =>
  Layer.mergeAll(PostgresRepository.layer, PgBossJobQueue.layer(queue)).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        MemoryTelephony.layer(telephony),
        MemoryAssistant.layer(),
        MemoryMailer.layer,
        MemoryBroadcaster.layer,
        MemoryErrorReporter.layer,
        Settings.layer({
          vapiWebhookSecret: Redacted.make("s"),
          ...(options.inLockRetryBudget ? { inLockRetryBudget: options.inLockRetryBudget } : {})
        })
      )
    ),
    Layer.provideMerge(
      testDatabase(
        options.maxConnections === undefined ? undefined : { maxConnections: options.maxConnections }
      )
    )
  )

const stack = queueStack(
  { concurrency: 8, retryDelaySeconds: 1, retryDelayMaxSeconds: 1, retryLimit: 20 },
  { defaultStock: 1000 },
  { maxConnections: 20 }
)

const jobsFor = (businessId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ readonly state: string; readonly name: string }>`
      SELECT state, name FROM pgboss.job WHERE data->>'businessId' = ${businessId}`
  })

const waitFor = <A, E, R>(check: Effect.Effect<A | undefined, E, R>, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 300; i++) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

layer(stack, { timeout: "120 seconds" })("JobQueue on pg-boss", (it) => {
  const live = <A, E>(
    title: string,
    body: () => Effect.Effect<A, E, Layer.Success<typeof stack> | Scope.Scope>
  ) => it.effect(title, () => TestClock.withLive(body()), 60_000)

  live("a conversion that rolls back leaves no job; a committed one has exactly one", () =>
    Effect.gen(function* () {
      const repo = yield* Repository
      const jobs = yield* JobQueue
      const trial = yield* repo.createTrial(newTrial())
      let doomed = ""
      const failed = yield* Effect.flip(
        repo.transaction(
          Effect.gen(function* () {
            const { business } = yield* repo.convertTrial(trial.id)
            doomed = business.id
            yield* jobs.enqueue(AssignNumberJob.make({ businessId: business.id }), { key: business.id })
            return yield* Effect.fail("crash before commit" as const)
          })
        )
      )
      assert.strictEqual(failed, "crash before commit")
      assert.deepStrictEqual(yield* jobsFor(doomed), [])

      const business = yield* convertTrial(trial.id)
      assert.notStrictEqual(business.id, doomed)
      assert.deepStrictEqual(yield* jobsFor(business.id), [{ state: "created", name: "assign-number" }])
    })
  )

  live("one queued job per business, however often it is enqueued", () =>
    Effect.gen(function* () {
      const repo = yield* Repository
      const trial = yield* repo.createTrial(newTrial())
      const businesses = yield* Effect.forEach([1, 2, 3, 4, 5], () => convertTrial(trial.id), {
        concurrency: 5
      })
      const id = businesses[0]?.id ?? ""
      assert.deepStrictEqual((yield* jobsFor(id)).length, 1)
    })
  )

  live("workers assign every business once and send one email each, through an SMTP outage", () =>
    Effect.gen(function* () {
      const repo = yield* Repository
      yield* MemoryMailerControl.use((m) => m.failNext(8))
      yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
      const businesses = yield* Effect.forEach(Array.from({ length: 30 }), () =>
        repo.createTrial(newTrial()).pipe(Effect.flatMap((t) => convertTrial(t.id)))
      )
      yield* waitFor(
        Effect.map(
          MemoryMailerControl.use((m) => m.sent),
          (sent) => (sent.length >= 30 ? sent : undefined)
        ),
        "30 emails"
      )
      for (const b of businesses) {
        assert.strictEqual((yield* repo.findBusiness(b.id))?.numberStatus, "assigned")
      }
      const ours = new Set(businesses.map((b) => `business:${b.id}`))
      const purchases = yield* MemoryTelephony.MemoryTelephonyControl.use((t) => t.purchases)
      assert.strictEqual(purchases.filter((p) => ours.has(p.friendlyName)).length, 30)
      yield* Effect.sleep("1500 millis")
      const sent = (yield* MemoryMailerControl.use((m) => m.sent)).filter((m) =>
        businesses.some((b) => m.idempotencyKey.startsWith(`number-assigned:${b.id}:`))
      )
      assert.strictEqual(sent.length, 30)
      assert.strictEqual(new Set(sent.map((m) => m.idempotencyKey)).size, 30)
    })
  )

  live("a job due later, announced by nothing, runs on the poll while queued jobs keep the loop busy", () =>
    Effect.gen(function* () {
      const repo = yield* Repository
      const jobs = yield* JobQueue
      const released: Array<string> = []
      const noop = { run: () => Effect.void, onExhausted: () => Effect.void }
      yield* jobs.work({
        "assign-number": noop,
        "send-number-assigned-email": noop,
        "release-number": {
          run: (job) => Effect.sync(() => released.push(job.businessId)),
          onExhausted: () => Effect.void
        }
      })
      const { business } = yield* repo
        .createTrial(newTrial())
        .pipe(Effect.flatMap((t) => repo.convertTrial(t.id)))
      // Queued for 1 s from now: pg-boss sends no NOTIFY for a job not yet runnable.
      const startAfter = DateTime.add(yield* DateTime.now, { seconds: 1 })
      yield* jobs.enqueue(
        ReleaseNumberJob.make({ businessId: business.id, releaseAt: DateTime.formatIso(startAfter) }),
        {
          key: `release:${business.id}`,
          startAfter
        }
      )
      // A job queued every 100 ms, each one announced, wakes the loop ten times between two 1 s polls.
      for (let i = 0; i < 60 && !released.includes(business.id); i++) {
        yield* repo.createTrial(newTrial()).pipe(Effect.flatMap((t) => convertTrial(t.id)))
        yield* Effect.sleep("100 millis")
      }
      assert.include(released, business.id, "the release never ran while the loop was kept busy")
    })
  )

  live(
    "a job carries its producer's W3C traceparent; one queued without it (an older version's) still runs",
    () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const sql = yield* SqlClient.SqlClient
        const traced = yield* repo.createTrial(newTrial()).pipe(
          Effect.flatMap((t) => convertTrial(t.id)),
          Effect.flatMap((business) => Effect.map(Effect.currentSpan, (span) => ({ business, span }))),
          Effect.withSpan("conversion")
        )
        const [row] = yield* sql<{ readonly data: { readonly _trace?: { readonly traceparent?: string } } }>`
        SELECT data FROM pgboss.job WHERE data->>'businessId' = ${traced.business.id}`
        assert.match(
          row?.data._trace?.traceparent ?? "",
          new RegExp(`^00-${traced.span.traceId}-[0-9a-f]{16}-01$`)
        )

        // Workers, and a job queued as the previous version queued them: the job's fields alone.
        yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
        const { business } = yield* repo
          .createTrial(newTrial())
          .pipe(Effect.flatMap((t) => repo.convertTrial(t.id)))
        const url = Redacted.value(yield* DatabaseUrl)
        yield* Effect.promise(async () => {
          const boss = new PgBoss({ connectionString: url, supervise: false, schedule: false })
          await boss.start()
          await boss.send("assign-number", { businessId: business.id }, { singletonKey: business.id })
          await boss.stop({ graceful: false, close: true })
        })
        yield* waitFor(
          Effect.map(repo.findBusiness(business.id), (b) => (b?.numberStatus === "assigned" ? b : undefined)),
          "the older job's business assigned"
        )
      })
  )
})

// A queue with a one-retry budget: what happens when the budget is spent, on the real queue.
const shortBudget = queueStack(
  { concurrency: 4, retryDelaySeconds: 1, retryDelayMaxSeconds: 1, retryLimit: 1 },
  { defaultStock: 10 },
  { inLockRetryBudget: Duration.millis(300) }
)

layer(shortBudget, { timeout: "60 seconds" })("JobQueue on pg-boss, budget spent", (it) => {
  it.effect(
    "fails the business with its reason, reports it and tells the owner",
    () =>
      TestClock.withLive(
        Effect.gen(function* () {
          const repo = yield* Repository
          yield* MemoryTelephony.MemoryTelephonyControl.use((t) =>
            t.injectFaults(Array.from({ length: 10_000 }, () => ({ _tag: "unavailable" as const })))
          )
          yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
          const business = yield* repo.createTrial(newTrial()).pipe(Effect.flatMap((t) => convertTrial(t.id)))
          const failed = yield* waitFor(
            Effect.map(repo.findBusiness(business.id), (b) => (b?.numberStatus === "failed" ? b : undefined)),
            "the business to fail"
          )
          assert.strictEqual(failed.failureReason, "telephony_unavailable")
          const reports = yield* MemoryErrorReporter.MemoryErrorReporterControl.use((r) => r.reports)
          assert.deepStrictEqual(
            reports.map((r) => r.context.businessId),
            [business.id]
          )
          const events = yield* MemoryBroadcaster.MemoryBroadcasterControl.use((b) => b.published)
          assert.deepStrictEqual(
            events.map((e) => e.event._tag),
            ["number.failed"]
          )
          // The job settles once its run has ended, a moment after the business is marked.
          const jobs = yield* waitFor(
            Effect.map(jobsFor(business.id), (rows) =>
              rows.some((r) => r.state === "active") ? undefined : rows
            ),
            "the assignment job to settle"
          )
          assert.deepStrictEqual(jobs, [{ state: "completed", name: "assign-number" }])
        })
      ),
    60_000
  )

  it.effect(
    "Vapi down past the budget: the number stays, the assistant fails with assistant_unavailable, told once",
    () =>
      TestClock.withLive(
        Effect.gen(function* () {
          const repo = yield* Repository
          yield* MemoryTelephony.MemoryTelephonyControl.use((t) => t.clearFaults)
          yield* MemoryAssistant.MemoryAssistantControl.use((a) =>
            a.injectFaults(Array.from({ length: 10_000 }, () => ({ _tag: "unavailable" as const })))
          )
          yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
          const business = yield* repo.createTrial(newTrial()).pipe(Effect.flatMap((t) => convertTrial(t.id)))
          const failed = yield* waitFor(
            Effect.map(repo.findBusiness(business.id), (b) =>
              b?.assistantStatus === "failed" ? b : undefined
            ),
            "the assistant to fail"
          )
          assert.deepStrictEqual(
            [failed.numberStatus, failed.failureReason, failed.phoneNumber !== null],
            ["assigned", "assistant_unavailable", true]
          )
          const reports = yield* MemoryErrorReporter.MemoryErrorReporterControl.use((r) => r.reports)
          assert.deepStrictEqual(
            reports.filter((r) => r.context.businessId === business.id).map((r) => r.context.reason),
            ["assistant_unavailable"]
          )
          const events = yield* MemoryBroadcaster.MemoryBroadcasterControl.use((b) => b.published)
          assert.deepStrictEqual(
            events.filter((e) => e.businessId === business.id).map((e) => e.event._tag),
            ["number.assigned", "assistant.failed"]
          )
          const jobs = yield* waitFor(
            Effect.map(jobsFor(business.id), (rows) =>
              rows.some((r) => r.name === "assign-number" && r.state === "completed") ? rows : undefined
            ),
            "the assignment job to settle"
          )
          assert.deepStrictEqual(
            jobs.filter((r) => r.name === "assign-number"),
            [{ state: "completed", name: "assign-number" }]
          )
        })
      ),
    60_000
  )
})

// Polling every 30 s: a job runs within seconds only if it was announced. The assignment is announced by
// pg-boss's NOTIFY (our loop listens on its channel); the email, queued by the assignment's transaction without
// one, by the assignment's end in this process. Each Twilio call takes 300 ms, so a job can be caught running.
const announced = queueStack(
  { concurrency: 4, pollingIntervalSeconds: 30 },
  { defaultStock: 100, latency: Duration.millis(300) }
)

layer(announced, { timeout: "60 seconds" })("JobQueue on pg-boss, its fetch loops", (it) => {
  const live = <A, E>(
    title: string,
    body: () => Effect.Effect<A, E, Layer.Success<typeof announced> | Scope.Scope>
  ) => it.effect(title, () => TestClock.withLive(body()), 60_000)

  live("a queued job is picked up at once, and the email it queues without a NOTIFY right after it", () =>
    Effect.gen(function* () {
      const repo = yield* Repository
      yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
      // Let the first idle fetch pass, so that only a wake-up can start the job before the next poll.
      yield* Effect.sleep("500 millis")
      const started = Date.now()
      const business = yield* repo.createTrial(newTrial()).pipe(Effect.flatMap((t) => convertTrial(t.id)))
      yield* waitFor(
        Effect.map(
          MemoryMailerControl.use((m) => m.sent),
          (sent) =>
            sent.some((m) => m.idempotencyKey.startsWith(`number-assigned:${business.id}:`))
              ? sent
              : undefined
        ),
        "the email"
      )
      const seconds = (Date.now() - started) / 1000
      assert.isBelow(seconds, 10, `took ${seconds} s: a job waited for the 30 s poll`)
      const jobs = yield* waitFor(
        Effect.map(jobsFor(business.id), (rows) =>
          rows.every((r) => r.state === "completed") ? rows : undefined
        ),
        "both jobs settled"
      )
      assert.deepStrictEqual(jobs.map((r) => r.name).sort(), ["assign-number", "send-number-assigned-email"])
    })
  )

  live("closing the worker lets a running job finish, and settles it before it stops", () =>
    Effect.gen(function* () {
      const repo = yield* Repository
      const scope = yield* Scope.make()
      yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work)).pipe(Scope.provide(scope))
      const business = yield* repo.createTrial(newTrial()).pipe(Effect.flatMap((t) => convertTrial(t.id)))
      yield* waitFor(
        Effect.map(jobsFor(business.id), (rows) =>
          rows.some((r) => r.name === "assign-number" && r.state === "active") ? rows : undefined
        ),
        "the assignment to be running"
      )
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* repo.findBusiness(business.id))?.numberStatus, "assigned")
      const assignment = (yield* jobsFor(business.id)).filter((r) => r.name === "assign-number")
      assert.deepStrictEqual(assignment, [{ state: "completed", name: "assign-number" }])
    })
  )
})

// Heartbeats every 5 s against a 10 s claim, and a supervisor that looks every 2 s; each Twilio call takes 6 s, so
// an assignment (a lookup and a purchase) runs about 12 s, past its claim unless the claim is refreshed.
const slow = queueStack(
  { concurrency: 2, heartbeatSeconds: 10, superviseIntervalSeconds: 2 },
  { defaultStock: 10, latency: Duration.seconds(6) }
)

layer(slow, { timeout: "90 seconds" })("JobQueue on pg-boss, a run longer than its claim", (it) => {
  it.effect(
    "keeps its claim by heartbeat: it is not handed to another run, and settles once",
    () =>
      TestClock.withLive(
        Effect.gen(function* () {
          const repo = yield* Repository
          const sql = yield* SqlClient.SqlClient
          yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
          const business = yield* repo.createTrial(newTrial()).pipe(Effect.flatMap((t) => convertTrial(t.id)))
          const settled = yield* waitFor(
            Effect.map(
              sql<{ readonly state: string; readonly retryCount: number }>`
                SELECT state, retry_count FROM pgboss.job
                WHERE name = 'assign-number' AND data->>'businessId' = ${business.id}`,
              (rows) => (rows[0]?.state === "completed" ? rows : undefined)
            ),
            "the assignment job to settle"
          )
          assert.deepStrictEqual(settled, [{ state: "completed", retryCount: 0 }])
          const purchases = yield* MemoryTelephony.MemoryTelephonyControl.use((t) => t.purchases)
          assert.strictEqual(purchases.filter((p) => p.friendlyName === `business:${business.id}`).length, 1)
        })
      ),
    80_000
  )

  it.effect("a failure whose text jsonb would refuse (a NUL, a lone surrogate) is stored, and retried", () =>
    TestClock.withLive(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const repo = yield* Repository
        const noop = { run: () => Effect.void, onExhausted: () => Effect.void }
        yield* JobQueue.use((q) =>
          q.work({
            "assign-number": {
              run: () => Effect.fail(new Error("bad\u0000bytes \ud800 from a provider")),
              onExhausted: () => Effect.void
            },
            "send-number-assigned-email": noop,
            "release-number": noop
          })
        )
        const business = yield* repo.createTrial(newTrial()).pipe(Effect.flatMap((t) => convertTrial(t.id)))
        const [row] = yield* waitFor(
          Effect.map(
            sql<{ readonly state: string; readonly error: string | null }>`
              SELECT state, output->>'error' AS error FROM pgboss.job
              WHERE name = 'assign-number' AND data->>'businessId' = ${business.id}`,
            (rows) => (rows[0]?.state === "retry" ? rows : undefined)
          ),
          "the failed attempt to be stored"
        )
        assert.include(row?.error ?? "", "bad")
        assert.include(row?.error ?? "", "from a provider")
      })
    )
  )
})
