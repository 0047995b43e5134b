// The in-memory Telephony's fault injection: which call meets which fault, clearing faults, and a late
// purchase that times out and lands afterwards on the clock (the contract suite covers the rest).
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as MemoryTelephony from "../../src/adapters/memory/MemoryTelephony.ts"
import { MemoryTelephonyControl } from "../../src/adapters/memory/MemoryTelephony.ts"
import type { AreaCode } from "../../src/domain/phone.ts"
import { Telephony } from "../../src/ports/Telephony.ts"

const request = (areaCode: string, name: string) => ({
  areaCode: areaCode as AreaCode,
  voiceUrl: `https://numbers.test/webhooks/twilio/inbound?business_id=${name}`,
  friendlyName: `business:${name}`
})

const withTelephony = Effect.provide(MemoryTelephony.layer({ inventory: { "415": 1, "650": 3 } }))

describe("MemoryTelephony faults", () => {
  it.effect("a fault aimed at an operation waits for that operation; the others pass it by", () =>
    Effect.gen(function* () {
      const telephony = yield* Telephony
      const control = yield* MemoryTelephonyControl
      yield* control.injectFaults([{ _tag: "ambiguous", operation: "purchase" }])

      assert.isNull(yield* telephony.findOwned("business:b1"))
      const lost = yield* Effect.flip(telephony.purchase(request("650", "b1")))
      assert.strictEqual(lost._tag, "TelephonyUnavailable")
      // The answer was lost, the number was bought.
      const purchases = yield* control.purchases
      assert.deepStrictEqual(
        purchases.map((p) => p.friendlyName),
        ["business:b1"]
      )
      assert.strictEqual((yield* telephony.findOwned("business:b1"))?.sid, purchases[0]?.sid)
      // Met once: the next purchase answers.
      const next = yield* telephony.purchase(request("650", "b2"))
      assert.strictEqual(next.friendlyName, "business:b2")
      assert.deepStrictEqual(yield* control.calls, ["findOwned", "purchase", "findOwned", "purchase"])
    }).pipe(withTelephony)
  )

  it.effect("faults are met in order, each by the first call it applies to", () =>
    Effect.gen(function* () {
      const telephony = yield* Telephony
      const control = yield* MemoryTelephonyControl
      yield* control.injectFaults([
        { _tag: "rejected", operation: "purchase" },
        { _tag: "unavailable" },
        { _tag: "rate-limited", retryAfterMillis: 700, operation: "findOwned" }
      ])
      // The first findOwned passes the purchase's fault by and meets the untargeted one.
      const first = yield* Effect.flip(telephony.findOwned("business:b1"))
      assert.strictEqual(first._tag, "TelephonyUnavailable")
      const second = yield* Effect.flip(telephony.findOwned("business:b1"))
      assert.deepStrictEqual(
        [second._tag, "retryAfterMillis" in second && second.retryAfterMillis],
        ["TelephonyRateLimited", 700]
      )
      assert.isNull(yield* telephony.findOwned("business:b1"))
      const refused = yield* Effect.flip(telephony.purchase(request("650", "b1")))
      assert.strictEqual(refused._tag, "TelephonyRejected")
      assert.strictEqual((yield* control.purchases).length, 0)
      yield* telephony.purchase(request("650", "b1"))
      assert.strictEqual((yield* control.purchases).length, 1)
    }).pipe(withTelephony)
  )

  it.effect("clearFaults drops every fault not met yet", () =>
    Effect.gen(function* () {
      const telephony = yield* Telephony
      const control = yield* MemoryTelephonyControl
      yield* control.injectFaults([{ _tag: "unavailable" }, { _tag: "rejected" }])
      const met = yield* Effect.flip(telephony.findOwned("business:b1"))
      assert.strictEqual(met._tag, "TelephonyUnavailable")
      yield* control.clearFaults
      const bought = yield* telephony.purchase(request("650", "b1"))
      assert.strictEqual(bought.friendlyName, "business:b1")
      assert.strictEqual((yield* control.purchases).length, 1)
    }).pipe(withTelephony)
  )

  it.effect("a late purchase times out, then lands afterMillis later, after its caller has ended", () =>
    Effect.gen(function* () {
      const telephony = yield* Telephony
      const control = yield* MemoryTelephonyControl
      yield* control.injectFaults([{ _tag: "late", afterMillis: 5_000, operation: "purchase" }])
      // The caller's fiber ends with the timeout; the purchase must outlive it.
      const caller = yield* Effect.forkChild(Effect.flip(telephony.purchase(request("415", "b1"))))
      const timedOut = yield* Fiber.join(caller)
      assert.deepStrictEqual(
        [timedOut._tag, "message" in timedOut && timedOut.message],
        ["TelephonyUnavailable", "the purchase request timed out"]
      )

      yield* TestClock.adjust("4999 millis")
      assert.isNull(yield* telephony.findOwned("business:b1"), "not bought before afterMillis")
      assert.strictEqual((yield* control.purchases).length, 0)
      assert.strictEqual((yield* control.owned).length, 0)

      yield* TestClock.adjust("1 millis")
      const purchases = yield* control.purchases
      assert.deepStrictEqual(
        purchases.map((p) => [p.areaCode, p.friendlyName]),
        [["415", "business:b1"]]
      )
      const found = yield* telephony.findOwned("business:b1")
      assert.strictEqual(found?.sid, purchases[0]?.sid)
      assert.deepStrictEqual(
        (yield* control.owned).map((n) => n.sid),
        [purchases[0]?.sid]
      )
      // It took 415's only number.
      const soldOut = yield* Effect.flip(telephony.purchase(request("415", "b2")))
      assert.strictEqual(soldOut._tag, "NoNumbersInAreaCode")
    }).pipe(withTelephony)
  )

  it.effect("a late purchase whose area code ran out meanwhile buys nothing", () =>
    Effect.gen(function* () {
      const telephony = yield* Telephony
      const control = yield* MemoryTelephonyControl
      yield* control.injectFaults([{ _tag: "late", afterMillis: 1_000 }])
      yield* Effect.flip(telephony.purchase(request("415", "b1")))
      yield* telephony.purchase(request("415", "b2"))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(
        (yield* control.purchases).map((p) => p.friendlyName),
        ["business:b2"]
      )
      assert.isNull(yield* telephony.findOwned("business:b1"))
    }).pipe(withTelephony)
  )

  it.effect(
    "a fault aimed at fetch waits for a fetch; a lost release answer leaves the number released",
    () =>
      Effect.gen(function* () {
        const telephony = yield* Telephony
        const control = yield* MemoryTelephonyControl
        const bought = yield* telephony.purchase(request("650", "b1"))
        yield* control.injectFaults([
          { _tag: "unavailable", operation: "fetch" },
          { _tag: "ambiguous", operation: "release" }
        ])
        assert.strictEqual((yield* telephony.findOwned("business:b1"))?.sid, bought.sid)
        const down = yield* Effect.flip(telephony.fetch(bought.sid))
        assert.strictEqual(down._tag, "TelephonyUnavailable")
        const lost = yield* Effect.flip(telephony.release(bought.sid))
        assert.strictEqual(lost._tag, "TelephonyUnavailable")
        assert.isNull(yield* telephony.fetch(bought.sid))
        assert.deepStrictEqual(yield* control.owned, [])
        // Released already: the retry succeeds.
        yield* telephony.release(bought.sid)
        assert.deepStrictEqual(yield* control.calls, [
          "purchase",
          "findOwned",
          "fetch",
          "release",
          "fetch",
          "release"
        ])
      }).pipe(withTelephony)
  )

  it.effect("a number's dateCreated is the clock's time when its purchase lands, late ones included", () =>
    Effect.gen(function* () {
      const telephony = yield* Telephony
      const control = yield* MemoryTelephonyControl
      yield* TestClock.setTime(Date.UTC(2026, 0, 31, 9, 30))
      const bought = yield* telephony.purchase(request("650", "b1"))
      assert.strictEqual(DateTime.formatIso(bought.dateCreated), "2026-01-31T09:30:00.000Z")

      yield* control.injectFaults([{ _tag: "late", afterMillis: 5_000, operation: "purchase" }])
      yield* Effect.flip(telephony.purchase(request("650", "b2")))
      yield* TestClock.adjust("5 seconds")
      const late = yield* telephony.findOwned("business:b2")
      assert.strictEqual(late && DateTime.formatIso(late.dateCreated), "2026-01-31T09:30:05.000Z")
    }).pipe(withTelephony)
  )
})
