import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { MemoryAssistantControl } from "../../../src/adapters/memory/MemoryAssistant.ts"
import { MemoryBroadcasterControl } from "../../../src/adapters/memory/MemoryBroadcaster.ts"
import { MemoryErrorReporterControl } from "../../../src/adapters/memory/MemoryErrorReporter.ts"
import { MemoryJobQueueControl } from "../../../src/adapters/memory/MemoryJobQueue.ts"
import { MemoryTelephonyControl } from "../../../src/adapters/memory/MemoryTelephony.ts"
import { type MemoryOptions, memoryLayer } from "../../../src/app/layers/memory.ts"
import { assignNumber } from "../../../src/app/usecases/AssignNumber.ts"
import { Assistant } from "../../../src/ports/Assistant.ts"
import { Repository } from "../../../src/ports/Repository.ts"
import { Telephony } from "../../../src/ports/Telephony.ts"
import { givenBusiness } from "../../support/fixtures.ts"
import { settle } from "../../support/settle.ts"

const SECRET = "test-vapi-secret"
const withMemory = (options: MemoryOptions = {}) =>
  Effect.provide(
    memoryLayer({
      telephony: { inventory: { "212": 5, "415": 5, "510": 5, "650": 5 } },
      ...options,
      settings: {
        appUrl: "https://numbers.test",
        vapiWebhookSecret: Redacted.make(SECRET),
        ...options.settings
      }
    })
  )

const purchasesFor = (businessId: string) =>
  Effect.map(
    MemoryTelephonyControl.use((t) => t.purchases),
    (all) => all.filter((p) => p.friendlyName === `business:${businessId}`)
  )

describe("AssignNumber", () => {
  it.effect("buys in the requested area code, records it, points Vapi at us and tells the owner once", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness({ requestedAreaCode: "212" })
      const outcome = yield* assignNumber(business.id)

      assert.strictEqual(outcome._tag, "Assigned")
      const purchases = yield* purchasesFor(business.id)
      assert.strictEqual(purchases.length, 1)
      const [purchase] = purchases
      assert.strictEqual(purchase?.areaCode, "212")
      assert.strictEqual(
        purchase?.voiceUrl,
        `https://numbers.test/webhooks/twilio/inbound?business_id=${business.id}`
      )

      const stored = yield* Repository.use((r) => r.findBusiness(business.id))
      assert.strictEqual(stored?.numberStatus, "assigned")
      assert.strictEqual(stored?.phoneNumber?.e164, purchase?.e164)
      assert.strictEqual(stored?.phoneNumber?.areaCode, "212")

      const server = yield* MemoryAssistantControl.use((a) => a.serverOf(business.vapiAssistantId))
      assert.deepStrictEqual(server, {
        assistantId: business.vapiAssistantId,
        url: `https://numbers.test/webhooks/vapi?business_id=${business.id}`,
        secret: SECRET
      })

      const published = yield* MemoryBroadcasterControl.use((b) => b.published)
      assert.deepStrictEqual(
        published.map((p) => [
          p.businessId,
          p.event._tag,
          p.event._tag === "number.assigned" && p.event.phoneNumber
        ]),
        [[business.id, "number.assigned", purchase?.e164] as Array<unknown>]
      )
      const enqueued = yield* MemoryJobQueueControl.use((j) => j.enqueued)
      assert.deepStrictEqual(
        enqueued.map((e) => e.job),
        [{ _tag: "send-number-assigned-email", businessId: business.id }]
      )
    }).pipe(withMemory())
  )

  it.effect("run twice, it buys one number, announces once and queues one email", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      const first = yield* assignNumber(business.id)
      const second = yield* assignNumber(business.id)
      assert.strictEqual(first._tag, "Assigned")
      assert.deepStrictEqual(second, { ...first, business: second.business })
      assert.strictEqual((yield* purchasesFor(business.id)).length, 1)
      assert.strictEqual((yield* MemoryBroadcasterControl.use((b) => b.published)).length, 1)
      assert.strictEqual(
        (yield* MemoryJobQueueControl.use((j) => j.enqueued)).filter((e) => e.accepted).length,
        1
      )
    }).pipe(withMemory())
  )

  it.effect("falls back from an empty requested code to 415, then 510, then 650", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness({ requestedAreaCode: "212" })
      const outcome = yield* assignNumber(business.id)
      assert.strictEqual(outcome._tag, "Assigned")
      assert.strictEqual(outcome._tag === "Assigned" && outcome.number.areaCode, "650" as unknown)
      const calls = yield* MemoryTelephonyControl.use((t) => t.calls)
      // One findOwned to reconcile, then one purchase per area code: no searches.
      assert.deepStrictEqual(calls, ["findOwned", "purchase", "purchase", "purchase", "purchase"])
    }).pipe(withMemory({ telephony: { inventory: { "212": 0, "415": 0, "510": 0, "650": 1 } } }))
  )

  it.effect("skips a requested code the provider does not know", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness({ requestedAreaCode: "555" })
      const outcome = yield* assignNumber(business.id)
      assert.strictEqual(outcome._tag === "Assigned" && outcome.number.areaCode, "415" as unknown)
    }).pipe(withMemory({ telephony: { defaultStock: 3, unknownAreaCodes: ["555"] } }))
  )

  it.effect(
    "when every code stays empty it retries within about a minute, then fails visibly without buying",
    () =>
      Effect.gen(function* () {
        const business = yield* givenBusiness({ requestedAreaCode: "212" })
        const fiber = yield* Effect.forkChild(assignNumber(business.id))
        yield* TestClock.adjust("10 seconds")
        assert.isUndefined(fiber.pollUnsafe(), "still retrying: stock churns")
        yield* TestClock.adjust("2 minutes")
        const outcome = yield* Fiber.join(fiber)

        assert.deepStrictEqual(
          [outcome._tag, outcome._tag === "Failed" && outcome.reason],
          ["Failed", "no_numbers_available"]
        )
        const stored = yield* Repository.use((r) => r.findBusiness(business.id))
        assert.strictEqual(stored?.numberStatus, "failed")
        assert.strictEqual(stored?.failureReason, "no_numbers_available")
        assert.strictEqual((yield* MemoryTelephonyControl.use((t) => t.purchases)).length, 0)
        // The chain (212, 415, 510, 650) walked once and then three more times.
        const purchases = (yield* MemoryTelephonyControl.use((t) => t.calls)).filter((c) => c === "purchase")
        assert.strictEqual(purchases.length, 4 * 4)
        const events = yield* MemoryBroadcasterControl.use((b) => b.published)
        assert.deepStrictEqual(
          events.map((e) => [e.event._tag, e.event._tag === "number.failed" && e.event.reason]),
          [["number.failed", "no_numbers_available"]]
        )
        const reports = yield* MemoryErrorReporterControl.use((r) => r.reports)
        assert.deepStrictEqual(
          reports.map((r) => r.context.businessId),
          [business.id]
        )
        assert.strictEqual((yield* MemoryAssistantControl.use((a) => a.serverUpdates)).length, 0)
      }).pipe(withMemory({ telephony: { defaultStock: 0 } }))
  )

  it.effect("sixteen concurrent runs for one business buy one number", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      const outcomes = yield* settle(
        Effect.forEach(Array.from({ length: 16 }), () => assignNumber(business.id), {
          concurrency: "unbounded"
        }),
        "5 millis"
      )
      const numbers = new Set(outcomes.map((o) => (o._tag === "Assigned" ? o.number.e164 : null)))
      assert.strictEqual(numbers.size, 1)
      assert.strictEqual((yield* purchasesFor(business.id)).length, 1)
      assert.strictEqual((yield* MemoryBroadcasterControl.use((b) => b.published)).length, 1)
    }).pipe(withMemory({ telephony: { defaultStock: 100, latency: "20 millis" } }))
  )

  it.effect("a purchase whose answer was lost is found again and recorded, not bought twice", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      // The reconciling findOwned answers normally; the purchase goes through but reports a 5xx.
      yield* MemoryTelephonyControl.use((t) => t.injectFaults([{ _tag: "ambiguous", operation: "purchase" }]))
      const outcome = yield* assignNumber(business.id).pipe(
        Effect.forkChild,
        Effect.flatMap((f) => TestClock.adjust("5 seconds").pipe(Effect.andThen(Fiber.join(f))))
      )
      const purchases = yield* purchasesFor(business.id)
      assert.strictEqual(purchases.length, 1)
      assert.strictEqual(outcome._tag === "Assigned" && outcome.number.e164, purchases[0]?.e164)
      // The lost answer was reconciled by a lookup after the purchase, not by buying again.
      assert.deepStrictEqual(yield* MemoryTelephonyControl.use((t) => t.calls), [
        "findOwned",
        "purchase",
        "findOwned"
      ])
      const stored = yield* Repository.use((r) => r.findBusiness(business.id))
      assert.strictEqual(stored?.numberStatus, "assigned")
      assert.strictEqual(stored?.phoneNumber?.e164, purchases[0]?.e164)
      assert.strictEqual(stored?.phoneNumber?.twilioSid, purchases[0]?.sid)
    }).pipe(withMemory())
  )

  it.effect("a number bought by an attempt that died before recording it is used on the next run", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      // The dead attempt: bought with the business's FriendlyName, but never recorded (and with an old voice URL).
      const orphan = yield* Telephony.use((t) =>
        t.purchase({
          areaCode: "510" as never,
          voiceUrl: "https://old.example/voice",
          friendlyName: `business:${business.id}`
        })
      )
      const outcome = yield* assignNumber(business.id)
      assert.strictEqual(outcome._tag === "Assigned" && outcome.number.twilioSid, orphan.sid)
      assert.strictEqual((yield* purchasesFor(business.id)).length, 1)
      const owned = yield* MemoryTelephonyControl.use((t) => t.owned)
      assert.strictEqual(
        owned.find((n) => n.sid === orphan.sid)?.voiceUrl,
        `https://numbers.test/webhooks/twilio/inbound?business_id=${business.id}`
      )
    }).pipe(withMemory())
  )

  it.effect("waits out a rate limit's Retry-After on the clock before buying", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      yield* MemoryTelephonyControl.use((t) =>
        t.injectFaults([
          { _tag: "rate-limited", retryAfterMillis: 2_000 },
          { _tag: "rate-limited", retryAfterMillis: 2_000 }
        ])
      )
      const fiber = yield* Effect.forkChild(assignNumber(business.id))
      yield* TestClock.adjust("1500 millis")
      assert.isUndefined(fiber.pollUnsafe(), "still waiting on Retry-After")
      assert.strictEqual((yield* purchasesFor(business.id)).length, 0)
      yield* TestClock.adjust("5 seconds")
      const outcome = yield* Fiber.join(fiber)
      assert.strictEqual(outcome._tag, "Assigned")
      assert.strictEqual((yield* purchasesFor(business.id)).length, 1)
    }).pipe(withMemory())
  )

  it.effect("a long outage ends the attempt as retryable and leaves the business pending", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      yield* MemoryTelephonyControl.use((t) =>
        t.injectFaults(Array.from({ length: 50 }, () => ({ _tag: "unavailable" as const })))
      )
      const fiber = yield* Effect.forkChild(Effect.flip(assignNumber(business.id)))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "TelephonyUnavailable")
      const stored = yield* Repository.use((r) => r.findBusiness(business.id))
      assert.strictEqual(stored?.numberStatus, "pending")
      assert.strictEqual((yield* MemoryBroadcasterControl.use((b) => b.published)).length, 0)
    }).pipe(withMemory())
  )

  it.effect("a fatal provider error is not retried and fails the business with its reason", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      yield* MemoryTelephonyControl.use((t) => t.injectFaults([{ _tag: "rejected" }]))
      const outcome = yield* assignNumber(business.id)
      assert.deepStrictEqual(
        [outcome._tag, outcome._tag === "Failed" && outcome.reason],
        ["Failed", "telephony_rejected"]
      )
      assert.strictEqual((yield* MemoryTelephonyControl.use((t) => t.calls)).length, 1)
      assert.strictEqual((yield* MemoryErrorReporterControl.use((r) => r.reports)).length, 1)
    }).pipe(withMemory())
  )

  it.effect("Vapi is pointed at us only once the number is recorded", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      yield* assignNumber(business.id)
      const seen = yield* MemoryAssistantControl.use((a) => a.serverUpdates)
      assert.strictEqual(seen.length, 1)
    }).pipe(
      Effect.provide(
        // An Assistant that looks at the business when it is called.
        Layer.effect(
          Assistant,
          Effect.gen(function* () {
            const inner = yield* Assistant
            const repo = yield* Repository
            return Assistant.of({
              ...inner,
              setServer: (assistantId, settings) =>
                repo.findBusiness(new URL(settings.url).searchParams.get("business_id") as never).pipe(
                  Effect.flatMap((b) =>
                    b?.numberStatus === "assigned" && b.phoneNumber !== null
                      ? inner.setServer(assistantId, settings)
                      : Effect.die(new Error("setServer called before the number was recorded"))
                  ),
                  Effect.catchTag("RepositoryUnavailable", Effect.die)
                )
            })
          })
        )
      ),
      withMemory()
    )
  )

  it.effect("a Vapi outage after the purchase is retried later; the number stays and is announced once", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      yield* MemoryAssistantControl.use((a) =>
        a.injectFaults(Array.from({ length: 40 }, () => ({ _tag: "unavailable" as const })))
      )
      const first = yield* Effect.forkChild(Effect.flip(assignNumber(business.id)))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Fiber.join(first))._tag, "AssistantUnavailable")
      assert.strictEqual(
        (yield* Repository.use((r) => r.findBusiness(business.id)))?.numberStatus,
        "assigned"
      )
      // Announced with the record, before Vapi: the owner has the number either way.
      assert.strictEqual((yield* MemoryBroadcasterControl.use((b) => b.published)).length, 1)
      assert.isNull(yield* MemoryAssistantControl.use((a) => a.serverOf(business.vapiAssistantId)))

      // Vapi is back: the next delivery completes the assignment.
      yield* MemoryAssistantControl.use((a) => a.clearFaults)
      const final = yield* rerun(business.id)
      assert.strictEqual(final._tag, "Assigned")
      assert.strictEqual((yield* purchasesFor(business.id)).length, 1)
      assert.strictEqual((yield* MemoryBroadcasterControl.use((b) => b.published)).length, 1)
      assert.isNotNull(yield* MemoryAssistantControl.use((a) => a.serverOf(business.vapiAssistantId)))
    }).pipe(withMemory())
  )
})

/** One more delivery of the assignment, given the time its retries may take; its failure fails the test. */
const rerun = (businessId: Parameters<typeof assignNumber>[0]) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(assignNumber(businessId))
    yield* TestClock.adjust("10 minutes")
    return yield* Fiber.join(fiber)
  })

describe("AssignNumber with nearby", () => {
  // Manhattan sold out; New York State lists four numbers, none of them Manhattan's.
  const NEW_YORK = ["+13475550101", "+17185550102", "+19295550103", "+15165550104"]
  const withNearby = (telephony: Partial<NonNullable<MemoryOptions["telephony"]>> = {}) =>
    withMemory({
      telephony: {
        inventory: { "212": 0, "332": 0, "646": 0, "917": 0, "415": 5, "510": 5, "650": 5 },
        regions: { NY: NEW_YORK },
        ...telephony
      },
      settings: { fallbackAreaCodes: ["nearby", "415", "510", "650"] }
    })
  const calls = MemoryTelephonyControl.use((t) => t.calls)
  const OVERLAYS = ["findOwned", "purchase", "purchase", "purchase", "purchase"] as const

  it.effect(
    "tries the overlays by area code, then searches the state and buys a listed number by number",
    () =>
      Effect.gen(function* () {
        const business = yield* givenBusiness({ requestedAreaCode: "212" })
        const outcome = yield* assignNumber(business.id)
        assert.strictEqual(outcome._tag === "Assigned" && outcome.number.e164, "+13475550101" as unknown)
        assert.deepStrictEqual(yield* calls, [...OVERLAYS, "searchLocal", "purchaseNumber"])
        const purchases = yield* purchasesFor(business.id)
        assert.deepStrictEqual(
          purchases.map((p) => [p.e164, p.areaCode]),
          [["+13475550101", "347"]]
        )
        const stored = yield* Repository.use((r) => r.findBusiness(business.id))
        assert.strictEqual(stored?.phoneNumber?.areaCode, "347")
        assert.isNull(yield* Repository.use((r) => r.purchaseInFlightSince(business.id)))
      }).pipe(withNearby())
  )

  it.effect("a number taken since the search sends it to the next one listed", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness({ requestedAreaCode: "212" })
      yield* MemoryTelephonyControl.use((t) => t.injectFaults([{ _tag: "taken" }]))
      const outcome = yield* assignNumber(business.id)
      assert.strictEqual(outcome._tag === "Assigned" && outcome.number.e164, "+17185550102" as unknown)
      assert.deepStrictEqual(yield* calls, [...OVERLAYS, "searchLocal", "purchaseNumber", "purchaseNumber"])
      assert.strictEqual((yield* purchasesFor(business.id)).length, 1)
      assert.isNull(yield* Repository.use((r) => r.purchaseInFlightSince(business.id)))
    }).pipe(withNearby())
  )

  it.effect("tries at most three listed numbers, then moves on down the chain", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness({ requestedAreaCode: "212" })
      yield* MemoryTelephonyControl.use((t) =>
        t.injectFaults([{ _tag: "taken" }, { _tag: "taken" }, { _tag: "taken" }])
      )
      const outcome = yield* assignNumber(business.id)
      assert.strictEqual(outcome._tag === "Assigned" && outcome.number.areaCode, "415" as unknown)
      assert.deepStrictEqual(yield* calls, [
        ...OVERLAYS,
        "searchLocal",
        "purchaseNumber",
        "purchaseNumber",
        "purchaseNumber",
        "purchase"
      ])
    }).pipe(withNearby())
  )

  it.effect("a state that lists nothing moves on down the chain", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness({ requestedAreaCode: "212" })
      const outcome = yield* assignNumber(business.id)
      assert.strictEqual(outcome._tag === "Assigned" && outcome.number.areaCode, "415" as unknown)
      assert.deepStrictEqual(yield* calls, [...OVERLAYS, "searchLocal", "purchase"])
    }).pipe(withNearby({ regions: {} }))
  )

  it.effect("a Canadian code has no nearby: its fallbacks follow it at once", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness({ requestedAreaCode: "604" })
      const outcome = yield* assignNumber(business.id)
      assert.strictEqual(outcome._tag === "Assigned" && outcome.number.areaCode, "415" as unknown)
      assert.deepStrictEqual(yield* calls, ["findOwned", "purchase", "purchase"])
    }).pipe(withNearby({ inventory: { "604": 0, "415": 5 } }))
  )

  it.effect("an ambiguous purchase by number is reconciled by FriendlyName, not bought again", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness({ requestedAreaCode: "212" })
      yield* MemoryTelephonyControl.use((t) =>
        t.injectFaults([{ _tag: "ambiguous", operation: "purchaseNumber" }])
      )
      const outcome = yield* assignNumber(business.id)
      assert.strictEqual(outcome._tag === "Assigned" && outcome.number.e164, "+13475550101" as unknown)
      assert.deepStrictEqual(yield* calls, [...OVERLAYS, "searchLocal", "purchaseNumber", "findOwned"])
      assert.strictEqual((yield* purchasesFor(business.id)).length, 1)
    }).pipe(withNearby())
  )

  it.effect(
    "a purchase by number lost for good ends the attempt; the marker keeps the next from buying",
    () =>
      Effect.gen(function* () {
        const business = yield* givenBusiness({ requestedAreaCode: "212" })
        // Times out, and lands at Twilio a minute later: the FriendlyName lookup finds nothing yet.
        yield* MemoryTelephonyControl.use((t) =>
          t.injectFaults([{ _tag: "late", afterMillis: 60_000, operation: "purchaseNumber" }])
        )
        const first = yield* Effect.forkChild(Effect.flip(assignNumber(business.id)))
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual((yield* Fiber.join(first))._tag, "TelephonyUnavailable")
        assert.isNotNull(yield* Repository.use((r) => r.purchaseInFlightSince(business.id)))
        // The late purchase lands; the next delivery finds it instead of buying.
        yield* TestClock.adjust("1 minute")
        const outcome = yield* rerun(business.id)
        assert.strictEqual(outcome._tag === "Assigned" && outcome.number.e164, "+13475550101" as unknown)
        assert.strictEqual((yield* purchasesFor(business.id)).length, 1)
      }).pipe(withNearby())
  )
})
