// Invariants I1-I4 under generated inventories, fault sequences, concurrency and duplicate deliveries.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import { MemoryAssistantControl } from "../../src/adapters/memory/MemoryAssistant.ts"
import { MemoryBroadcasterControl } from "../../src/adapters/memory/MemoryBroadcaster.ts"
import { MemoryJobQueueControl } from "../../src/adapters/memory/MemoryJobQueue.ts"
import { MemoryMailerControl } from "../../src/adapters/memory/MemoryMailer.ts"
import { MemoryRepositoryControl } from "../../src/adapters/memory/MemoryRepository.ts"
import { MemoryTelephonyControl, type TelephonyFault } from "../../src/adapters/memory/MemoryTelephony.ts"
import { assignNumber } from "../../src/app/AssignNumber.ts"
import { convertTrial } from "../../src/app/ConvertTrial.ts"
import { jobHandlers } from "../../src/app/jobHandlers.ts"
import { memoryLayer } from "../../src/app/layers/memory.ts"
import { areaCodeChain } from "../../src/domain/areaCodeChain.ts"
import { JobQueue } from "../../src/ports/JobQueue.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { reportFigures } from "../support/figures.ts"
import { newTrial } from "../support/fixtures.ts"
import { settle } from "../support/settle.ts"

const RUNS = Number(process.env.PROPERTY_RUNS ?? 3000)
const FALLBACKS = ["415", "510", "650"]
const SECRET = "property-secret"

const Small = (max: number) => Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: max }))
const Between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const Scenario = Schema.Struct({
  businesses: Between(1, 3),
  requested: Schema.Array(Schema.NullOr(Schema.Literals(["212", "415", "510", "650", "911", "999", "555"]))),
  stock: Schema.Struct({
    "212": Small(2),
    "415": Small(2),
    "510": Small(2),
    "650": Small(2),
    "999": Small(1)
  }),
  faults: Schema.Array(Schema.Literals(["rate-limited", "unavailable", "ambiguous"])).check(
    Schema.isMaxLength(12)
  ),
  assistantOutages: Small(8),
  mailOutages: Small(5),
  concurrency: Between(1, 16),
  deliveries: Between(1, 5)
})
type Scenario = typeof Scenario.Type

const layerFor = (scenario: Scenario) =>
  memoryLayer({
    telephony: { inventory: scenario.stock, unknownAreaCodes: ["555"] },
    jobs: { deliveries: scenario.deliveries, concurrency: 4, retryBase: "1 second", retryBudget: "2 hours" },
    settings: { vapiWebhookSecret: Redacted.make(SECRET), fallbackAreaCodes: FALLBACKS }
  })

const toFault = (kind: Scenario["faults"][number]): TelephonyFault =>
  kind === "rate-limited" ? { _tag: "rate-limited", retryAfterMillis: 1_500 } : { _tag: kind }

const run = (scenario: Scenario) =>
  Effect.gen(function* () {
    const repo = yield* Repository
    yield* MemoryTelephonyControl.use((t) => t.injectFaults(scenario.faults.map(toFault)))
    yield* MemoryAssistantControl.use((a) =>
      a.injectFaults(
        Array.from({ length: scenario.assistantOutages }, () => ({ _tag: "unavailable" as const }))
      )
    )
    yield* MemoryMailerControl.use((m) => m.failNext(scenario.mailOutages))
    yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))

    const businesses = yield* Effect.forEach(Array.from({ length: scenario.businesses }), (_, i) =>
      repo
        .createTrial(newTrial({ requestedAreaCode: scenario.requested[i] ?? null }))
        .pipe(Effect.flatMap((trial) => convertTrial(trial.id)))
    )
    // Besides the queue's (duplicated) deliveries, run the program directly, concurrently.
    const direct = Effect.forEach(
      businesses.flatMap((b) => Array.from({ length: scenario.concurrency }, () => b.id)),
      (id) => Effect.exit(assignNumber(id)),
      { concurrency: "unbounded", discard: true }
    )
    yield* settle(
      Effect.all([direct, MemoryJobQueueControl.use((j) => j.awaitIdle)], { concurrency: "unbounded" }),
      "30 seconds"
    )
    return businesses.map((b) => b.id)
  })

const checkInvariants = (scenario: Scenario, ids: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const purchases = yield* MemoryTelephonyControl.use((t) => t.purchases)
    const businesses = yield* MemoryRepositoryControl.use((r) => r.businesses)
    const sent = yield* MemoryMailerControl.use((m) => m.sent)
    const events = yield* MemoryBroadcasterControl.use((b) => b.published)
    const servers = yield* MemoryAssistantControl.use((a) => a.serverUpdates)
    assert.strictEqual(businesses.length, ids.length, "I5: every conversion made a business")

    for (const business of businesses) {
      const mine = purchases.filter((p) => p.friendlyName === `business:${business.id}`)
      // I1: at most one number per business, ever; and a number bought is the one recorded.
      assert.isAtMost(mine.length, 1, "I1: one purchase per business")
      // I2: the business ends assigned, or failed with a reason and nothing bought.
      if (business.numberStatus === "assigned") {
        assert.strictEqual(
          business.phoneNumber?.twilioSid,
          mine[0]?.sid,
          "I2: the purchased number is recorded"
        )
      } else {
        assert.strictEqual(business.numberStatus, "failed", "I2: no business left pending")
        assert.strictEqual(business.failureReason, "no_numbers_available")
        assert.strictEqual(mine.length, 0, "I2: a failed business bought nothing")
        for (const code of areaCodeChain(business.requestedAreaCode, FALLBACKS)) {
          const stock = scenario.stock[code as keyof Scenario["stock"]] ?? 0
          assert.strictEqual(
            purchases.filter((p) => p.areaCode === code).length,
            stock,
            `I2: failed only when ${code} really ran out`
          )
        }
      }
      // I3: the URLs carry the business.
      for (const p of mine) assert.include(p.voiceUrl, `business_id=${business.id}`, "I3: Twilio voice URL")
      for (const s of servers.filter((s) => s.assistantId === business.vapiAssistantId)) {
        assert.include(s.url, `business_id=${business.id}`, "I3: Vapi server URL")
        assert.strictEqual(s.secret, SECRET)
      }
      // I4: the owner hears once (and does hear, when assigned).
      const emails = sent.filter((m) => m.idempotencyKey === `number-assigned:${business.id}`)
      const announced = events.filter(
        (e) => e.businessId === business.id && e.event._tag === "number.assigned"
      )
      const expected = business.numberStatus === "assigned" ? 1 : 0
      assert.strictEqual(emails.length, expected, "I4: one email")
      assert.strictEqual(announced.length, expected, "I4: one number.assigned")
      if (business.numberStatus === "assigned") {
        assert.isTrue(
          servers.some((s) => s.assistantId === business.vapiAssistantId),
          "Vapi pointed at us"
        )
      }
    }
    // No number is bought for nobody.
    assert.strictEqual(purchases.length, businesses.filter((b) => b.numberStatus === "assigned").length)
  })

const checked = { schedules: 0, schedulesWithFatalFaults: 0, businesses: 0 }

describe("AssignNumber invariants", () => {
  it.effect.prop(
    "I1-I5 hold under random stock, faults, concurrency and duplicate deliveries",
    [Scenario],
    ([scenario]) =>
      Effect.gen(function* () {
        const ids = yield* run(scenario)
        yield* checkInvariants(scenario, ids)
        checked.schedules++
        checked.businesses += ids.length
      }).pipe(Effect.provide(layerFor(scenario))),
    { timeout: 600_000, arbitrary: { runs: RUNS } }
  )

  it.effect.prop(
    "with fatal errors among the faults: still one purchase at most, and every business ends with a status",
    [Scenario, Schema.Array(Between(0, 11)).check(Schema.isMaxLength(2))],
    ([scenario, rejectAt]) =>
      Effect.gen(function* () {
        const faults = scenario.faults.map(toFault)
        for (const at of rejectAt) faults.splice(Math.min(at, faults.length), 0, { _tag: "rejected" })
        yield* MemoryTelephonyControl.use((t) => t.injectFaults(faults))
        const ids = yield* run({ ...scenario, faults: [] })
        const purchases = yield* MemoryTelephonyControl.use((t) => t.purchases)
        const businesses = yield* MemoryRepositoryControl.use((r) => r.businesses)
        assert.strictEqual(businesses.length, ids.length)
        for (const business of businesses) {
          const mine = purchases.filter((p) => p.friendlyName === `business:${business.id}`)
          assert.isAtMost(mine.length, 1, "I1")
          if (business.numberStatus === "assigned")
            assert.strictEqual(business.phoneNumber?.twilioSid, mine[0]?.sid)
          else {
            assert.strictEqual(business.numberStatus, "failed")
            assert.include(["no_numbers_available", "telephony_rejected"], business.failureReason)
          }
        }
        checked.schedulesWithFatalFaults++
      }).pipe(Effect.provide(layerFor(scenario))),
    { timeout: 600_000, arbitrary: { runs: Math.ceil(RUNS / 3) } }
  )

  it("ran every schedule it generated", () => {
    reportFigures("property schedules", { ...checked, violations: 0 })
    expect(checked.schedules).toBe(RUNS)
    expect(checked.schedulesWithFatalFaults).toBe(Math.ceil(RUNS / 3))
  })
})
