import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { MemoryBroadcasterControl } from "../../../src/adapters/memory/MemoryBroadcaster.ts"
import { MemoryErrorReporterControl } from "../../../src/adapters/memory/MemoryErrorReporter.ts"
import { MemoryJobQueueControl } from "../../../src/adapters/memory/MemoryJobQueue.ts"
import { MemoryMailerControl } from "../../../src/adapters/memory/MemoryMailer.ts"
import { MemoryTelephonyControl } from "../../../src/adapters/memory/MemoryTelephony.ts"
import { type MemoryOptions, memoryLayer } from "../../../src/app/layers/memory.ts"
import { convertTrial } from "../../../src/app/usecases/ConvertTrial.ts"
import { jobHandlers } from "../../../src/app/usecases/jobHandlers.ts"
import type { TrialId } from "../../../src/domain/ids.ts"
import { JobQueue } from "../../../src/ports/JobQueue.ts"
import { Repository } from "../../../src/ports/Repository.ts"
import { newTrial } from "../../support/fixtures.ts"
import { settle } from "../../support/settle.ts"

const withMemory = (options: MemoryOptions = {}) =>
  Effect.provide(
    memoryLayer({ ...options, settings: { vapiWebhookSecret: Redacted.make("s"), ...options.settings } })
  )

const createTrial = (requestedAreaCode: string | null = null) =>
  Repository.use((r) => r.createTrial(newTrial({ requestedAreaCode })))

describe("ConvertTrial", () => {
  it.effect("makes a pending business carrying the trial's owner, name, assistant and requested code", () =>
    Effect.gen(function* () {
      const trial = yield* createTrial("212")
      const business = yield* convertTrial(trial.id)
      assert.deepStrictEqual(
        [
          business.ownerId,
          business.name,
          business.vapiAssistantId,
          business.requestedAreaCode,
          business.trialId
        ],
        [trial.ownerId, trial.businessName, trial.vapiAssistantId, "212", trial.id]
      )
      assert.strictEqual(business.numberStatus, "pending")
      const after = yield* Repository.use((r) => r.findTrial(trial.id))
      assert.deepStrictEqual([after?.status, after?.businessId], ["converted", business.id])
    }).pipe(withMemory())
  )

  it.effect("is idempotent: repeat calls answer the same business and queue one assignment", () =>
    Effect.gen(function* () {
      const trial = yield* createTrial()
      const businesses = yield* Effect.forEach([1, 2, 3], () => convertTrial(trial.id), {
        concurrency: "unbounded"
      })
      assert.strictEqual(new Set(businesses.map((b) => b.id)).size, 1)
      const enqueued = yield* MemoryJobQueueControl.use((j) => j.enqueued)
      assert.deepStrictEqual(
        enqueued.filter((e) => e.accepted).map((e): unknown => e.job),
        [{ _tag: "assign-number", businessId: businesses[0]?.id }]
      )
    }).pipe(withMemory())
  )

  it.effect("an unknown trial is a typed TrialNotFound and changes nothing", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(convertTrial("no-such-trial" as TrialId))
      assert.strictEqual(error._tag, "TrialNotFound")
      assert.strictEqual((yield* MemoryJobQueueControl.use((j) => j.enqueued)).length, 0)
    }).pipe(withMemory())
  )

  it.effect("succeeds while Twilio, Vapi and SMTP are all down", () =>
    Effect.gen(function* () {
      yield* MemoryTelephonyControl.use((t) => t.injectFaults([{ _tag: "rejected" }]))
      yield* MemoryMailerControl.use((m) => m.failNext(10))
      const trial = yield* createTrial()
      const business = yield* convertTrial(trial.id)
      assert.strictEqual(business.numberStatus, "pending")
      assert.strictEqual((yield* MemoryTelephonyControl.use((t) => t.calls)).length, 0)
      assert.strictEqual(yield* MemoryMailerControl.use((m) => m.attempts), 0)
    }).pipe(withMemory())
  )
})

describe("the assignment as a background job", () => {
  it.effect("conversion to assigned number, email and live event, through the queue", () =>
    Effect.gen(function* () {
      yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
      const trial = yield* createTrial("415")
      const business = yield* convertTrial(trial.id)
      yield* settle(MemoryJobQueueControl.use((j) => j.awaitIdle))
      const stored = yield* Repository.use((r) => r.findBusiness(business.id))
      assert.strictEqual(stored?.numberStatus, "assigned")
      assert.strictEqual(stored?.phoneNumber?.areaCode, "415")
      assert.strictEqual((yield* MemoryMailerControl.use((m) => m.sent)).length, 1)
      const events = yield* MemoryBroadcasterControl.use((b) => b.published)
      assert.deepStrictEqual(
        events.map((e) => e.event._tag),
        ["number.assigned"]
      )
    }).pipe(withMemory())
  )

  it.effect("an outage longer than the retry budget fails the business visibly with its reason", () =>
    Effect.gen(function* () {
      yield* MemoryTelephonyControl.use((t) =>
        t.injectFaults(Array.from({ length: 100_000 }, () => ({ _tag: "unavailable" as const })))
      )
      yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
      const trial = yield* createTrial()
      const business = yield* convertTrial(trial.id)
      yield* settle(
        MemoryJobQueueControl.use((j) => j.awaitIdle),
        "10 minutes"
      )
      const stored = yield* Repository.use((r) => r.findBusiness(business.id))
      assert.deepStrictEqual(
        [stored?.numberStatus, stored?.failureReason],
        ["failed", "telephony_unavailable"]
      )
      assert.strictEqual((yield* MemoryTelephonyControl.use((t) => t.purchases)).length, 0)
      const events = yield* MemoryBroadcasterControl.use((b) => b.published)
      assert.deepStrictEqual(
        events.map((e) => e.event._tag),
        ["number.failed"]
      )
      assert.strictEqual((yield* MemoryErrorReporterControl.use((r) => r.reports)).length, 1)
    }).pipe(withMemory({ jobs: { retryBase: "1 second", retryBudget: "1 hour" } }))
  )

  it.effect("the email job retries through an SMTP outage and sends once", () =>
    Effect.gen(function* () {
      yield* MemoryMailerControl.use((m) => m.failNext(5))
      yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
      const business = yield* convertTrial((yield* createTrial()).id)
      yield* settle(MemoryJobQueueControl.use((j) => j.awaitIdle))
      assert.strictEqual(
        (yield* Repository.use((r) => r.findBusiness(business.id)))?.numberStatus,
        "assigned"
      )
      assert.strictEqual(yield* MemoryMailerControl.use((m) => m.attempts), 6)
      assert.strictEqual((yield* MemoryMailerControl.use((m) => m.sent)).length, 1)
    }).pipe(withMemory())
  )
})
