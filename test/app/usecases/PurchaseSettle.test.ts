// A purchase request with no definite answer (a timeout, a 5xx, a process that died while it was out) may still
// complete at Twilio after the next attempt has looked for it. So before each purchase a marker is committed on
// its own; while it is younger than the settle time and no number carries the business's FriendlyName, a later
// attempt only reconciles. Definite answers clear it, so empty area codes still end in no_numbers_available.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { MemoryTelephonyControl } from "../../../src/adapters/memory/MemoryTelephony.ts"
import { type MemoryOptions, memoryLayer } from "../../../src/app/layers/memory.ts"
import { assignNumber } from "../../../src/app/usecases/AssignNumber.ts"
import type { BusinessId } from "../../../src/domain/ids.ts"
import { Repository } from "../../../src/ports/Repository.ts"
import { givenBusiness } from "../../support/fixtures.ts"

const SETTLE = Duration.seconds(120)

const withMemory = (options: MemoryOptions = {}) =>
  Effect.provide(
    memoryLayer({
      telephony: { defaultStock: 10 },
      ...options,
      settings: {
        appUrl: "https://numbers.test",
        vapiWebhookSecret: Redacted.make("secret"),
        purchaseSettle: SETTLE
      }
    })
  )

const purchasesFor = (businessId: BusinessId) =>
  MemoryTelephonyControl.use((t) => t.purchases).pipe(
    Effect.map((all) => all.filter((p) => p.friendlyName === `business:${businessId}`))
  )

/** One delivery of the job, given the seconds its in-lock retries take; its outcome or typed error. */
const attempt = (businessId: BusinessId) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(Effect.result(assignNumber(businessId)))
    yield* TestClock.adjust("10 seconds")
    const result = yield* Fiber.join(fiber)
    return result._tag === "Success" ? result.success._tag : result.failure._tag
  })

describe("a purchase without a definite answer", () => {
  it.effect("that Twilio completes 5 s late is found and recorded, not bought again", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      yield* MemoryTelephonyControl.use((t) =>
        t.injectFaults([{ _tag: "late", afterMillis: 5_000, operation: "purchase" }])
      )
      // The request times out, and the lookup right after it finds nothing yet: the attempt ends, retryable.
      const first = yield* Effect.forkChild(Effect.result(assignNumber(business.id)))
      yield* TestClock.adjust("4 seconds")
      const firstResult = yield* Fiber.join(first)
      assert.strictEqual(firstResult._tag === "Failure" && firstResult.failure._tag, "TelephonyUnavailable")
      assert.strictEqual((yield* purchasesFor(business.id)).length, 0)
      assert.isNotNull(yield* Repository.use((r) => r.purchaseInFlightSince(business.id)))

      // The next delivery (here at once) must not buy while the first purchase may still land.
      const second = yield* Effect.forkChild(Effect.result(assignNumber(business.id)))
      yield* Effect.yieldNow
      const secondResult = yield* Fiber.join(second)
      assert.strictEqual(secondResult._tag === "Failure" && secondResult.failure._tag, "PurchaseSettling")

      // It lands; the next delivery finds it by its FriendlyName.
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* purchasesFor(business.id)).length, 1)
      assert.strictEqual(yield* attempt(business.id), "Assigned")
      const [bought] = yield* purchasesFor(business.id)
      const stored = yield* Repository.use((r) => r.findBusiness(business.id))
      assert.deepStrictEqual(
        [stored?.numberStatus, stored?.phoneNumber?.twilioSid],
        ["assigned", bought?.sid]
      )
      assert.strictEqual((yield* purchasesFor(business.id)).length, 1)
    }).pipe(withMemory())
  )

  it.effect("that never completes is bought again once the settle time has passed, and only then", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      yield* MemoryTelephonyControl.use((t) =>
        t.injectFaults([{ _tag: "unavailable", operation: "purchase" }])
      )
      assert.strictEqual(yield* attempt(business.id), "TelephonyUnavailable")
      // Deliveries inside the settle time reconcile and end, retryable, without a purchase request.
      for (let i = 0; i < 5; i++) {
        assert.strictEqual(yield* attempt(business.id), "PurchaseSettling")
        yield* TestClock.adjust("10 seconds")
      }
      const requests = (yield* MemoryTelephonyControl.use((t) => t.calls)).filter((c) => c === "purchase")
      assert.strictEqual(requests.length, 1)
      yield* TestClock.adjust(SETTLE)
      assert.strictEqual(yield* attempt(business.id), "Assigned")
      assert.strictEqual((yield* purchasesFor(business.id)).length, 1)
      assert.isNull(yield* Repository.use((r) => r.purchaseInFlightSince(business.id)))
    }).pipe(withMemory())
  )

  it.effect("empty and unknown area codes are definite: the re-walks still end in no_numbers_available", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness({ requestedAreaCode: "555" })
      const fiber = yield* Effect.forkChild(assignNumber(business.id))
      yield* TestClock.adjust("5 minutes")
      const outcome = yield* Fiber.join(fiber)
      assert.deepStrictEqual(
        [outcome._tag, outcome._tag === "Failed" && outcome.reason],
        ["Failed", "no_numbers_available"]
      )
      // Every code of the chain, walked once and then three more times.
      const requests = (yield* MemoryTelephonyControl.use((t) => t.calls)).filter((c) => c === "purchase")
      assert.strictEqual(requests.length, 4 * 4)
      assert.isNull(yield* Repository.use((r) => r.purchaseInFlightSince(business.id)))
    }).pipe(withMemory({ telephony: { defaultStock: 0, unknownAreaCodes: ["555"] } }))
  )

  it.effect(
    "a refusal is definite too: the business fails, the marker is cleared, a retry can buy at once",
    () =>
      Effect.gen(function* () {
        const business = yield* givenBusiness()
        yield* MemoryTelephonyControl.use((t) =>
          t.injectFaults([{ _tag: "rejected", operation: "purchase" }])
        )
        assert.strictEqual(yield* attempt(business.id), "Failed")
        assert.isNull(yield* Repository.use((r) => r.purchaseInFlightSince(business.id)))
      }).pipe(withMemory())
  )

  it.effect("a rate limit is definite (Twilio did not process it): it clears the marker", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      yield* MemoryTelephonyControl.use((t) =>
        t.injectFaults(
          Array.from({ length: 20 }, () => ({
            _tag: "rate-limited" as const,
            retryAfterMillis: 3_000,
            operation: "purchase" as const
          }))
        )
      )
      assert.strictEqual(yield* attempt(business.id), "TelephonyRateLimited")
      assert.isNull(yield* Repository.use((r) => r.purchaseInFlightSince(business.id)))
      yield* MemoryTelephonyControl.use((t) => t.clearFaults)
      assert.strictEqual(yield* attempt(business.id), "Assigned")
    }).pipe(withMemory())
  )
})
