// After the number is recorded, the business's assistant is pointed at us. When Vapi refuses or keeps failing
// the number still stands, but calls would not reach the assistant: that must be visible (assistantStatus,
// the operator's ErrorReporter, the owner's `assistant.failed`) and recoverable (assign-number re-points it).
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { MemoryAssistantControl } from "../../../src/adapters/memory/MemoryAssistant.ts"
import { MemoryBroadcasterControl } from "../../../src/adapters/memory/MemoryBroadcaster.ts"
import { MemoryErrorReporterControl } from "../../../src/adapters/memory/MemoryErrorReporter.ts"
import { MemoryJobQueueControl } from "../../../src/adapters/memory/MemoryJobQueue.ts"
import { type MemoryOptions, memoryLayer } from "../../../src/app/layers/memory.ts"
import { assignNumber } from "../../../src/app/usecases/AssignNumber.ts"
import { retryAssignment } from "../../../src/app/usecases/Businesses.ts"
import { convertTrial } from "../../../src/app/usecases/ConvertTrial.ts"
import { jobHandlers } from "../../../src/app/usecases/jobHandlers.ts"
import type { BusinessId } from "../../../src/domain/ids.ts"
import { JobQueue } from "../../../src/ports/JobQueue.ts"
import { Repository } from "../../../src/ports/Repository.ts"
import { givenBusiness, newTrial } from "../../support/fixtures.ts"
import { settle } from "../../support/settle.ts"

const withMemory = (options: MemoryOptions = {}) =>
  Effect.provide(
    memoryLayer({
      ...options,
      settings: { appUrl: "https://numbers.test", vapiWebhookSecret: Redacted.make("secret") }
    })
  )

const stored = (id: BusinessId) =>
  Repository.use((r) => r.findBusiness(id)).pipe(
    Effect.map((b) => [b?.numberStatus, b?.assistantStatus, b?.failureReason, b?.phoneNumber !== null])
  )

const eventTags = MemoryBroadcasterControl.use((b) => b.published).pipe(
  Effect.map((all) =>
    all.map((p) => (p.event._tag === "assistant.failed" ? `${p.event._tag}:${p.event.reason}` : p.event._tag))
  )
)

const reports = MemoryErrorReporterControl.use((r) => r.reports).pipe(Effect.map((all) => all.length))

const vapiDown = MemoryAssistantControl.use((a) =>
  a.injectFaults(Array.from({ length: 100_000 }, () => ({ _tag: "unavailable" as const })))
)

describe("the assistant after the number", () => {
  it.effect("is connected once Vapi points it at us", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      assert.strictEqual(business.assistantStatus, "pending")
      yield* assignNumber(business.id)
      assert.deepStrictEqual(yield* stored(business.id), ["assigned", "connected", null, true])
    }).pipe(withMemory())
  )

  it.effect(
    "a missing assistant fails at once (no retry can help), told once to the operator and the owner",
    () =>
      Effect.gen(function* () {
        const business = yield* givenBusiness()
        const outcome = yield* assignNumber(business.id)
        assert.strictEqual(outcome._tag, "Assigned")
        assert.deepStrictEqual(yield* stored(business.id), [
          "assigned",
          "failed",
          "assistant_not_found",
          true
        ])
        assert.deepStrictEqual(yield* eventTags, ["number.assigned", "assistant.failed:assistant_not_found"])
        assert.strictEqual(yield* reports, 1)
        // Delivered again: nothing new to tell.
        yield* assignNumber(business.id)
        assert.strictEqual(yield* reports, 1)
        assert.strictEqual((yield* eventTags).length, 2)
      }).pipe(withMemory({ assistantsKnownOnly: true }))
  )

  it.effect("a refused assistant fails with assistant_rejected", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      yield* MemoryAssistantControl.use((a) => a.injectFaults([{ _tag: "rejected" }]))
      yield* assignNumber(business.id)
      assert.deepStrictEqual(yield* stored(business.id), ["assigned", "failed", "assistant_rejected", true])
      assert.strictEqual(yield* reports, 1)
    }).pipe(withMemory())
  )

  it.effect(
    "Vapi down past the job's budget: assistant failed with assistant_unavailable, once; assign-number re-points it",
    () =>
      Effect.gen(function* () {
        yield* vapiDown
        yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
        const trial = yield* Repository.use((r) => r.createTrial(newTrial()))
        const business = yield* convertTrial(trial.id)
        yield* settle(
          MemoryJobQueueControl.use((j) => j.awaitIdle),
          "10 minutes"
        )
        assert.deepStrictEqual(yield* stored(business.id), [
          "assigned",
          "failed",
          "assistant_unavailable",
          true
        ])
        assert.deepStrictEqual(yield* eventTags, [
          "number.assigned",
          "assistant.failed:assistant_unavailable"
        ])
        assert.strictEqual(yield* reports, 1)
        assert.isNull(yield* MemoryAssistantControl.use((a) => a.serverOf(business.vapiAssistantId)))

        // Vapi is back; an operator asks again: the assistant is pointed, with no second number.
        yield* MemoryAssistantControl.use((a) => a.clearFaults)
        const retried = yield* retryAssignment(business.id)
        assert.deepStrictEqual(
          [retried.numberStatus, retried.assistantStatus, retried.failureReason],
          ["assigned", "pending", null]
        )
        yield* settle(MemoryJobQueueControl.use((j) => j.awaitIdle))
        assert.deepStrictEqual(yield* stored(business.id), ["assigned", "connected", null, true])
        assert.strictEqual(
          (yield* MemoryAssistantControl.use((a) => a.serverOf(business.vapiAssistantId)))?.url,
          `https://numbers.test/webhooks/vapi?business_id=${business.id}`
        )
        assert.deepStrictEqual(yield* eventTags, [
          "number.assigned",
          "assistant.failed:assistant_unavailable"
        ])

        // Connected: there is nothing left to do, and asking again is a conflict.
        const again = yield* Effect.flip(retryAssignment(business.id))
        assert.strictEqual(again._tag, "AlreadyAssigned")
      }).pipe(withMemory({ jobs: { retryBase: "1 second", retryBudget: "1 hour" } }))
  )
})
