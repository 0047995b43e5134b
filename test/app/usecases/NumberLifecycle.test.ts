import { assert, describe, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { MemoryBroadcasterControl } from "../../../src/adapters/memory/MemoryBroadcaster.ts"
import { MemoryErrorReporterControl } from "../../../src/adapters/memory/MemoryErrorReporter.ts"
import { MemoryJobQueueControl } from "../../../src/adapters/memory/MemoryJobQueue.ts"
import { MemoryMailerControl } from "../../../src/adapters/memory/MemoryMailer.ts"
import { MemoryRepositoryControl } from "../../../src/adapters/memory/MemoryRepository.ts"
import { MemoryTelephonyControl } from "../../../src/adapters/memory/MemoryTelephony.ts"
import { type MemoryOptions, memoryLayer } from "../../../src/app/layers/memory.ts"
import { assignNumber } from "../../../src/app/usecases/AssignNumber.ts"
import { retryAssignment } from "../../../src/app/usecases/Businesses.ts"
import { convertTrial } from "../../../src/app/usecases/ConvertTrial.ts"
import { inboundCall, REJECT_TWIML } from "../../../src/app/usecases/InboundCall.ts"
import { jobHandlers } from "../../../src/app/usecases/jobHandlers.ts"
import {
  cancelBusiness,
  reactivateBusiness,
  releaseNow,
  releaseNumber
} from "../../../src/app/usecases/NumberLifecycle.ts"
import type { BusinessId } from "../../../src/domain/ids.ts"
import { JobQueue } from "../../../src/ports/JobQueue.ts"
import { Repository } from "../../../src/ports/Repository.ts"
import { Telephony } from "../../../src/ports/Telephony.ts"
import { newTrial } from "../../support/fixtures.ts"
import { settle } from "../../support/settle.ts"

const withMemory = (options: MemoryOptions = {}) =>
  Effect.provide(
    memoryLayer({
      telephony: { defaultStock: 10 },
      ...options,
      settings: { appUrl: "https://numbers.test", vapiWebhookSecret: Redacted.make("s"), ...options.settings }
    })
  )

const idle = settle(
  MemoryJobQueueControl.use((j) => j.awaitIdle),
  "1 hour"
)
/** Time passes (every release scheduled meanwhile comes due), then the queue settles. */
const passDays = (days: number) => Effect.andThen(TestClock.adjust(Duration.days(days)), idle)
const work = JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
const stored = (id: BusinessId) =>
  Effect.flatMap(
    Repository.use((r) => r.findBusiness(id)),
    (b) => (b ? Effect.succeed(b) : Effect.die("no business"))
  )
const eventTags = Effect.map(
  MemoryBroadcasterControl.use((b) => b.published),
  (all) => all.map((p) => p.event._tag)
)
const owned = MemoryTelephonyControl.use((t) => t.owned)
const call = (businessId: BusinessId, to: string) =>
  inboundCall({ businessId, callSid: `CA${crypto.randomUUID()}`, from: "+14155550100", to })

/** A converted business whose number is assigned by the job queue. */
const assignedBusiness = Effect.gen(function* () {
  const trial = yield* Repository.use((r) => r.createTrial(newTrial()))
  const business = yield* convertTrial(trial.id)
  yield* idle
  const assigned = yield* stored(business.id)
  if (!assigned.phoneNumber) return yield* Effect.die("not assigned")
  return { ...assigned, phoneNumber: assigned.phoneNumber }
})

describe("the number's life: cancel, park, reactivate, release", () => {
  it.effect(
    "cancel parks the number until just before its next bill; calls are rejected; reactivate rings again",
    () =>
      Effect.gen(function* () {
        yield* work
        // Bought on 10 January at 15:00 UTC.
        yield* TestClock.setTime(DateTime.toEpochMillis(DateTime.makeUnsafe("2026-01-10T15:00:00Z")))
        const business = yield* assignedBusiness
        const e164 = business.phoneNumber.e164
        // Cancelled on 1 March: the 10 March bill is more than 72 h away.
        yield* TestClock.setTime(DateTime.toEpochMillis(DateTime.makeUnsafe("2026-03-01T00:00:00Z")))
        const cancelled = yield* cancelBusiness(business.id)
        assert.strictEqual(cancelled.status, "cancelled")
        assert.strictEqual(
          cancelled.releaseAt && DateTime.formatIso(cancelled.releaseAt),
          "2026-03-09T15:00:00.000Z"
        )
        assert.strictEqual(cancelled.phoneNumber?.e164, e164)
        // A repeat answers the same, and schedules nothing more.
        const again = yield* cancelBusiness(business.id)
        assert.deepStrictEqual([again.status, again.releaseAt], [cancelled.status, cancelled.releaseAt])
        const releaseJobs = (yield* MemoryJobQueueControl.use((j) => j.enqueued)).filter(
          (e) => e.job._tag === "release-number"
        )
        assert.deepStrictEqual(
          releaseJobs.map((e) => e.job),
          [{ _tag: "release-number", businessId: business.id, releaseAt: "2026-03-09T15:00:00.000Z" }]
        )

        // Parked: Twilio is told to reject the call (not answered, not billed), and the assistant is not called.
        assert.strictEqual(yield* call(business.id, e164), REJECT_TWIML)
        // No assignment for a cancelled business.
        const refused = yield* Effect.flip(retryAssignment(business.id))
        assert.strictEqual(refused._tag, "BusinessCancelled")

        // Back before the release: same number, no provider call, calls ring through.
        const callsBefore = (yield* MemoryTelephonyControl.use((t) => t.calls)).length
        const back = yield* reactivateBusiness(business.id)
        assert.deepStrictEqual([back.status, back.releaseAt, back.phoneNumber?.e164], ["active", null, e164])
        assert.strictEqual((yield* MemoryTelephonyControl.use((t) => t.calls)).length, callsBefore)
        assert.notStrictEqual(yield* call(business.id, e164), REJECT_TWIML)

        // The release time passes: the stale job finds the business active and releases nothing.
        yield* passDays(40)
        assert.deepStrictEqual(
          (yield* owned).map((n) => n.e164),
          [e164]
        )
        assert.strictEqual((yield* stored(business.id)).numberStatus, "assigned")
        assert.deepStrictEqual(yield* eventTags, [
          "number.assigned",
          "business.cancelled",
          "business.reactivated"
        ])
      }).pipe(withMemory())
  )

  it.effect(
    "at releaseAt the job gives the number back once; a reactivation then gets a new number and a new email",
    () =>
      Effect.gen(function* () {
        yield* work
        yield* TestClock.setTime(DateTime.toEpochMillis(DateTime.makeUnsafe("2026-01-31T08:00:00Z")))
        const business = yield* assignedBusiness
        const first = business.phoneNumber
        yield* TestClock.setTime(DateTime.toEpochMillis(DateTime.makeUnsafe("2026-02-26T00:00:00Z")))
        const cancelled = yield* cancelBusiness(business.id)
        // 28 February is inside the grace period: the bill after, on 31 March, less a day.
        assert.strictEqual(
          cancelled.releaseAt && DateTime.formatIso(cancelled.releaseAt),
          "2026-03-30T08:00:00.000Z"
        )
        // Nothing happens before its time.
        yield* passDays(32)
        assert.strictEqual((yield* stored(business.id)).numberStatus, "assigned")

        yield* passDays(2)
        assert.strictEqual(DateTime.formatIso(yield* DateTime.now) >= "2026-03-30T08:00:00.000Z", true)
        const released = yield* stored(business.id)
        assert.deepStrictEqual(
          [released.status, released.numberStatus, released.phoneNumber, released.releaseAt],
          ["cancelled", "released", null, null]
        )
        assert.deepStrictEqual(yield* owned, [])
        const calls = yield* MemoryTelephonyControl.use((t) => t.calls)
        assert.strictEqual(calls.filter((c) => c === "release").length, 1)
        assert.deepStrictEqual(
          (yield* MemoryRepositoryControl.use((r) => r.releasedNumbers)).map((r) => [
            r.businessId,
            r.number.e164
          ]),
          [[business.id, first.e164]]
        )
        // Its old number no longer reaches it.
        assert.notStrictEqual(yield* call(business.id, first.e164), REJECT_TWIML)

        const back = yield* reactivateBusiness(business.id)
        assert.deepStrictEqual([back.status, back.numberStatus], ["active", "pending"])
        yield* idle
        const renewed = yield* stored(business.id)
        assert.strictEqual(renewed.numberStatus, "assigned")
        assert.notStrictEqual(renewed.phoneNumber?.twilioSid, first.twilioSid)
        const emails = (yield* MemoryJobQueueControl.use((j) => j.enqueued)).filter(
          (e) => e.job._tag === "send-number-assigned-email" && e.accepted
        )
        assert.strictEqual(emails.length, 2, "one email per number")
        assert.deepStrictEqual(yield* eventTags, [
          "number.assigned",
          "business.cancelled",
          "number.released",
          "business.reactivated",
          "number.assigned"
        ])
      }).pipe(withMemory())
  )

  it.effect(
    "a number already gone at Twilio (a run killed after its 204) is recorded as released with no DELETE",
    () =>
      Effect.gen(function* () {
        yield* work
        const business = yield* assignedBusiness
        yield* cancelBusiness(business.id)
        // The previous run's DELETE reached Twilio, and the process died before recording it.
        yield* Repository.use((r) => r.markReleaseInFlight(business.id))
        yield* Telephony.use((t) => t.release(business.phoneNumber.twilioSid))
        const deletesBefore = (yield* MemoryTelephonyControl.use((t) => t.calls)).filter(
          (c) => c === "release"
        ).length
        yield* passDays(40)
        assert.strictEqual((yield* stored(business.id)).numberStatus, "released")
        const deletes = (yield* MemoryTelephonyControl.use((t) => t.calls)).filter(
          (c) => c === "release"
        ).length
        assert.strictEqual(deletes, deletesBefore, "no second DELETE")
        assert.isNull(yield* Repository.use((r) => r.releaseInFlightSince(business.id)))
      }).pipe(withMemory())
  )

  it.effect(
    "a reactivation that finds a release without a recorded answer asks Twilio: gone means a new number",
    () =>
      Effect.gen(function* () {
        yield* work
        const business = yield* assignedBusiness
        yield* cancelBusiness(business.id)
        yield* Repository.use((r) => r.markReleaseInFlight(business.id))
        yield* Telephony.use((t) => t.release(business.phoneNumber.twilioSid))
        const back = yield* reactivateBusiness(business.id)
        assert.deepStrictEqual(
          [back.status, back.numberStatus, back.phoneNumber],
          ["active", "pending", null]
        )
        yield* idle
        const renewed = yield* stored(business.id)
        assert.notStrictEqual(renewed.phoneNumber?.twilioSid, business.phoneNumber.twilioSid)
      }).pipe(withMemory())
  )

  it.effect(
    "a reactivation right after an unanswered DELETE waits for it to settle; gone, a new number",
    () =>
      Effect.gen(function* () {
        yield* work
        const business = yield* assignedBusiness
        yield* cancelBusiness(business.id)
        yield* Repository.use((r) => r.markReleaseInFlight(business.id))
        const early = yield* Effect.flip(reactivateBusiness(business.id))
        assert.deepStrictEqual(
          [early._tag, (yield* stored(business.id)).status],
          ["ReleaseSettling", "cancelled"]
        )
        // The DELETE that was out lands at Twilio meanwhile: the settled reactivation finds the number gone.
        yield* Telephony.use((t) => t.release(business.phoneNumber.twilioSid))
        yield* TestClock.adjust("3 minutes")
        const back = yield* reactivateBusiness(business.id)
        assert.deepStrictEqual(
          [back.status, back.numberStatus, back.phoneNumber],
          ["active", "pending", null]
        )
      }).pipe(withMemory())
  )

  it.effect(
    "a settled release in flight whose number Twilio still has: reactivated with the same number",
    () =>
      Effect.gen(function* () {
        yield* work
        const business = yield* assignedBusiness
        yield* cancelBusiness(business.id)
        yield* Repository.use((r) => r.markReleaseInFlight(business.id))
        yield* TestClock.adjust("3 minutes")
        const back = yield* reactivateBusiness(business.id)
        assert.deepStrictEqual([back.status, back.phoneNumber?.e164], ["active", business.phoneNumber.e164])
        assert.isNull(yield* Repository.use((r) => r.releaseInFlightSince(business.id)))
      }).pipe(withMemory())
  )

  it.effect(
    "never deletes a number whose FriendlyName is not this business's (I7): refused, reported, counted",
    () =>
      Effect.gen(function* () {
        yield* work
        const business = yield* assignedBusiness
        yield* cancelBusiness(business.id)
        // Someone renamed the number at Twilio.
        yield* MemoryTelephonyControl.use((t) => t.rename(business.phoneNumber.twilioSid, "someone else's"))
        const due = yield* releaseNow(business.id)
        yield* idle
        assert.strictEqual((yield* stored(business.id)).numberStatus, "assigned")
        assert.strictEqual((yield* owned).length, 1)
        assert.strictEqual(
          (yield* MemoryTelephonyControl.use((t) => t.calls)).filter((c) => c === "release").length,
          0
        )
        const reports = yield* MemoryErrorReporterControl.use((r) => r.reports)
        assert.strictEqual(reports.at(-1)?.context.operation, "ReleaseNumber")
        assert.isNotNull(due.releaseAt)
      }).pipe(withMemory())
  )

  /**
   * A release run sent its DELETE and died with no answer; then someone renamed the number at Twilio, and the
   * release runs again (released now): it fetches the number and decides nothing yet (no refusal, no failure).
   */
  const renamedAfterUnansweredDelete = Effect.gen(function* () {
    yield* work
    const business = yield* assignedBusiness
    yield* cancelBusiness(business.id)
    yield* Repository.use((r) => r.markReleaseInFlight(business.id))
    yield* MemoryTelephonyControl.use((t) => t.rename(business.phoneNumber.twilioSid, "kept by someone"))
    yield* releaseNow(business.id)
    yield* TestClock.adjust("30 seconds")
    assert.include(yield* MemoryTelephonyControl.use((t) => t.calls), "fetch")
    assert.deepStrictEqual(yield* MemoryErrorReporterControl.use((r) => r.reports), [])
    assert.strictEqual((yield* stored(business.id)).numberStatus, "assigned")
    return business
  })

  it.effect(
    "a number renamed after our unanswered DELETE is not refused while that DELETE may land; landed, released",
    () =>
      Effect.gen(function* () {
        const business = yield* renamedAfterUnansweredDelete
        // The DELETE that was out lands: the run queued for when it has settled finds the number gone.
        yield* Telephony.use((t) => t.release(business.phoneNumber.twilioSid))
        yield* TestClock.adjust("3 minutes")
        yield* idle
        const after = yield* stored(business.id)
        assert.deepStrictEqual([after.numberStatus, after.phoneNumber], ["released", null])
        assert.include(yield* eventTags, "number.released")
      }).pipe(withMemory())
  )

  it.effect("a number renamed after our unanswered DELETE and still there once it has settled: refused", () =>
    Effect.gen(function* () {
      const business = yield* renamedAfterUnansweredDelete
      yield* TestClock.adjust("3 minutes")
      yield* idle
      assert.strictEqual((yield* stored(business.id)).numberStatus, "assigned")
      assert.deepStrictEqual(
        (yield* owned).map((n) => n.sid),
        [business.phoneNumber.twilioSid]
      )
      assert.strictEqual(
        (yield* MemoryTelephonyControl.use((t) => t.calls)).filter((c) => c === "release").length,
        0
      )
      const reports = yield* MemoryErrorReporterControl.use((r) => r.reports)
      assert.strictEqual(reports.at(-1)?.context.operation, "ReleaseNumber")
    }).pipe(withMemory())
  )

  it.effect(
    "release now: 409 while active; at once when cancelled; a job of an earlier time does nothing",
    () =>
      Effect.gen(function* () {
        yield* work
        const business = yield* assignedBusiness
        const active = yield* Effect.flip(releaseNow(business.id))
        assert.strictEqual(active._tag, "BusinessActive")
        const cancelled = yield* cancelBusiness(business.id)
        const scheduledFor = cancelled.releaseAt
        if (!scheduledFor) return assert.fail("a release time")
        yield* releaseNow(business.id)
        yield* settle(
          Effect.gen(function* () {
            while ((yield* stored(business.id)).numberStatus !== "released") yield* Effect.sleep("1 second")
          }),
          "1 second"
        )
        // The job of the original time, when it comes, finds nothing to do.
        yield* releaseNumber(business.id, DateTime.formatIso(scheduledFor))
        assert.strictEqual(
          (yield* MemoryTelephonyControl.use((t) => t.calls)).filter((c) => c === "release").length,
          1
        )
      }).pipe(withMemory())
  )

  it.effect(
    "a purchase sent before the cancellation that lands late is recorded and parked, never left billed",
    () =>
      Effect.gen(function* () {
        const trial = yield* Repository.use((r) => r.createTrial(newTrial()))
        const business = yield* convertTrial(trial.id)
        // The purchase times out at us, and completes at Twilio 30 s later.
        yield* MemoryTelephonyControl.use((t) =>
          t.injectFaults([{ _tag: "late", afterMillis: 30_000, operation: "purchase" }])
        )
        const lost = yield* Effect.flip(assignNumber(business.id))
        assert.strictEqual(lost._tag, "TelephonyUnavailable")
        const cancelled = yield* cancelBusiness(business.id)
        assert.deepStrictEqual([cancelled.numberStatus, cancelled.releaseAt], ["pending", null])
        // The queued job finds the business cancelled with a purchase in flight: it only looks for that number.
        yield* work
        yield* passDays(1)
        const parked = yield* stored(business.id)
        assert.strictEqual(parked.status, "cancelled")
        assert.strictEqual(parked.phoneNumber?.e164, (yield* owned)[0]?.e164)
        assert.isNotNull(parked.releaseAt)
        assert.strictEqual((yield* MemoryTelephonyControl.use((t) => t.purchases)).length, 1)
        yield* passDays(40)
        assert.strictEqual((yield* stored(business.id)).numberStatus, "released")
        assert.deepStrictEqual(yield* owned, [])
        const emails = (yield* MemoryJobQueueControl.use((j) => j.enqueued)).filter(
          (e) => e.job._tag === "send-number-assigned-email"
        )
        assert.deepStrictEqual(emails, [], "no 'Number assigned' email for a business that left")
      }).pipe(withMemory())
  )

  it.effect(
    "a release Twilio refuses for longer than the job's budget is counted, reported and tried again",
    () =>
      Effect.gen(function* () {
        yield* work
        const business = yield* assignedBusiness
        yield* cancelBusiness(business.id)
        // Twilio refuses us (rotated credentials) for about a day.
        yield* MemoryTelephonyControl.use((t) =>
          t.injectFaults(
            Array.from({ length: 150 }, () => ({ _tag: "rejected", operation: "fetch" }) as const)
          )
        )
        yield* releaseNow(business.id)
        yield* passDays(1)
        assert.strictEqual((yield* stored(business.id)).numberStatus, "assigned")
        const reports = (yield* MemoryErrorReporterControl.use((r) => r.reports)).filter(
          (r) => r.context.operation === "ReleaseNumber"
        )
        assert.isAtLeast(reports.length, 2, "every spent budget reported, and the release queued again")
        // Twilio takes us back: the next try releases it.
        yield* MemoryTelephonyControl.use((t) => t.clearFaults)
        yield* passDays(1)
        assert.strictEqual((yield* stored(business.id)).numberStatus, "released")
        assert.deepStrictEqual(yield* owned, [])
      }).pipe(withMemory())
  )

  it.effect(
    "a late number parked while cancelled is announced and connected when the business comes back",
    () =>
      Effect.gen(function* () {
        const trial = yield* Repository.use((r) => r.createTrial(newTrial()))
        const business = yield* convertTrial(trial.id)
        yield* MemoryTelephonyControl.use((t) =>
          t.injectFaults([{ _tag: "late", afterMillis: 30_000, operation: "purchase" }])
        )
        yield* Effect.flip(assignNumber(business.id))
        yield* cancelBusiness(business.id)
        yield* work
        yield* passDays(1)
        const parked = yield* stored(business.id)
        assert.deepStrictEqual([parked.status, parked.assistantStatus], ["cancelled", "pending"])
        const back = yield* reactivateBusiness(business.id)
        assert.strictEqual(back.phoneNumber?.e164, parked.phoneNumber?.e164)
        yield* idle
        const connected = yield* stored(business.id)
        assert.deepStrictEqual([connected.status, connected.assistantStatus], ["active", "connected"])
        const sent = yield* MemoryMailerControl.use((m) => m.sent)
        assert.strictEqual(sent.length, 1, "told once about the number it kept")
        const assignedEvents = Effect.map(
          MemoryBroadcasterControl.use((b) => b.published),
          (all) => all.filter((p) => p.event._tag === "number.assigned").length
        )
        assert.strictEqual(yield* assignedEvents, 1, "one number.assigned for the number it kept")
        // A second round trip tells nobody again.
        yield* cancelBusiness(business.id)
        yield* reactivateBusiness(business.id)
        yield* idle
        assert.strictEqual((yield* MemoryMailerControl.use((m) => m.sent)).length, 1)
        assert.strictEqual(yield* assignedEvents, 1)
        assert.strictEqual((yield* MemoryTelephonyControl.use((t) => t.purchases)).length, 1)
      }).pipe(withMemory())
  )

  it.effect(
    "cancelled before its number: the assignment stops and buys nothing; reactivated, it resumes",
    () =>
      Effect.gen(function* () {
        const trial = yield* Repository.use((r) => r.createTrial(newTrial()))
        const business = yield* convertTrial(trial.id)
        const cancelled = yield* cancelBusiness(business.id)
        assert.deepStrictEqual(
          [cancelled.status, cancelled.releaseAt, cancelled.numberStatus],
          ["cancelled", null, "pending"]
        )
        yield* work
        yield* idle
        assert.deepStrictEqual(yield* MemoryTelephonyControl.use((t) => t.purchases), [])
        const back = yield* reactivateBusiness(business.id)
        assert.strictEqual(back.numberStatus, "pending")
        yield* idle
        assert.strictEqual((yield* stored(business.id)).numberStatus, "assigned")
        assert.strictEqual((yield* MemoryTelephonyControl.use((t) => t.purchases)).length, 1)
      }).pipe(withMemory())
  )
})
