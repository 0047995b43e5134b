// Invariants I1-I4 under generated inventories, fault sequences, concurrency and duplicate deliveries.
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Cause, Effect, type Layer, Redacted, Schema, type Scope } from "effect"
import { TestClock } from "effect/testing"
import { MemoryAssistantControl } from "../../../src/adapters/memory/MemoryAssistant.ts"
import { MemoryBroadcasterControl } from "../../../src/adapters/memory/MemoryBroadcaster.ts"
import { MemoryJobQueueControl } from "../../../src/adapters/memory/MemoryJobQueue.ts"
import { MemoryMailerControl } from "../../../src/adapters/memory/MemoryMailer.ts"
import { MemoryRepositoryControl } from "../../../src/adapters/memory/MemoryRepository.ts"
import { MemoryTelephonyControl, type TelephonyFault } from "../../../src/adapters/memory/MemoryTelephony.ts"
import { memoryLayer } from "../../../src/app/layers/memory.ts"
import { assignNumber } from "../../../src/app/usecases/AssignNumber.ts"
import { convertTrial } from "../../../src/app/usecases/ConvertTrial.ts"
import { jobHandlers } from "../../../src/app/usecases/jobHandlers.ts"
import { areaCodeChain } from "../../../src/domain/areaCodeChain.ts"
import { JobQueue } from "../../../src/ports/JobQueue.ts"
import { Repository } from "../../../src/ports/Repository.ts"
import { reportFigures } from "../../support/figures.ts"
import { newTrial } from "../../support/fixtures.ts"
import { checkOptions, propertyRuns } from "../../support/propertyCheck.ts"
import { settle } from "../../support/settle.ts"

const RUNS = propertyRuns()
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

/** What one property test checked: its own scenarios, businesses and invariant checks, shared with no other test. */
class Tally {
  scenarios = 0
  businesses = 0
  assigned = 0
  failed = 0
  checks = 0
  violations = 0

  /** One invariant check: counted, and counted as a violation when it fails (the failure still fails the test). */
  readonly check = (assertion: () => void) => {
    this.checks++
    try {
      assertion()
    } catch (error) {
      this.violations++
      throw error
    }
  }

  /** The assertions the invariants use, each one counted. */
  readonly assert = {
    strictEqual: <T>(actual: T, expected: T, message?: string) =>
      this.check(() => assert.strictEqual(actual, expected, message)),
    isAtMost: (actual: number, expected: number, message?: string) =>
      this.check(() => assert.isAtMost(actual, expected, message)),
    isTrue: (value: boolean, message?: string) => this.check(() => assert.isTrue(value, message)),
    include: (haystack: string | ReadonlyArray<unknown>, needle: unknown, message?: string) =>
      this.check(() => assert.include(haystack as Array<unknown>, needle, message))
  }

  readonly figures = () => ({
    scenarios: this.scenarios,
    businesses: this.businesses,
    assigned: this.assigned,
    failed: this.failed,
    checks: this.checks,
    violations: this.violations
  })
}

const countOutcomes = (tally: Tally) =>
  Effect.gen(function* () {
    const businesses = yield* MemoryRepositoryControl.use((r) => r.businesses)
    tally.businesses += businesses.length
    tally.assigned += businesses.filter((b) => b.numberStatus === "assigned").length
    tally.failed += businesses.filter((b) => b.numberStatus === "failed").length
  })

const checkInvariants = (scenario: Scenario, ids: ReadonlyArray<string>, tally: Tally) =>
  Effect.gen(function* () {
    const verify = tally.assert
    const purchases = yield* MemoryTelephonyControl.use((t) => t.purchases)
    const businesses = yield* MemoryRepositoryControl.use((r) => r.businesses)
    const sent = yield* MemoryMailerControl.use((m) => m.sent)
    const events = yield* MemoryBroadcasterControl.use((b) => b.published)
    const servers = yield* MemoryAssistantControl.use((a) => a.serverUpdates)
    verify.strictEqual(businesses.length, ids.length, "I5: every conversion made a business")

    for (const business of businesses) {
      const mine = purchases.filter((p) => p.friendlyName === `business:${business.id}`)
      // I1: at most one number per business, ever; and a number bought is the one recorded.
      verify.isAtMost(mine.length, 1, "I1: one purchase per business")
      // I2: the business ends assigned, or failed with a reason and nothing bought.
      if (business.numberStatus === "assigned") {
        verify.strictEqual(
          business.phoneNumber?.twilioSid,
          mine[0]?.sid,
          "I2: the purchased number is recorded"
        )
      } else {
        verify.strictEqual(business.numberStatus, "failed", "I2: no business left pending")
        verify.strictEqual(business.failureReason, "no_numbers_available")
        verify.strictEqual(mine.length, 0, "I2: a failed business bought nothing")
        for (const code of areaCodeChain(business.requestedAreaCode, FALLBACKS)) {
          const stock = scenario.stock[code as keyof Scenario["stock"]] ?? 0
          verify.strictEqual(
            purchases.filter((p) => p.areaCode === code).length,
            stock,
            `I2: failed only when ${code} really ran out`
          )
        }
      }
      // I3: the URLs carry the business.
      for (const p of mine) verify.include(p.voiceUrl, `business_id=${business.id}`, "I3: Twilio voice URL")
      for (const s of servers.filter((s) => s.assistantId === business.vapiAssistantId)) {
        verify.include(s.url, `business_id=${business.id}`, "I3: Vapi server URL")
        verify.strictEqual(s.secret, SECRET)
      }
      // I4: the owner hears once (and does hear, when assigned).
      const emails = sent.filter((m) => m.idempotencyKey.startsWith(`number-assigned:${business.id}:`))
      const announced = events.filter(
        (e) => e.businessId === business.id && e.event._tag === "number.assigned"
      )
      const expected = business.numberStatus === "assigned" ? 1 : 0
      verify.strictEqual(emails.length, expected, "I4: one email")
      verify.strictEqual(announced.length, expected, "I4: one number.assigned")
      if (business.numberStatus === "assigned") {
        verify.isTrue(
          servers.some((s) => s.assistantId === business.vapiAssistantId),
          "Vapi pointed at us"
        )
      }
    }
    // No number is bought for nobody.
    verify.strictEqual(purchases.length, businesses.filter((b) => b.numberStatus === "assigned").length)
  })

type World = Layer.Success<ReturnType<typeof layerFor>> | Scope.Scope

/**
 * Checks `property` on `runs` generated values, each in a world of its own (its layer, a fresh TestClock and
 * scope). A failed assertion falsifies the value (and is shrunk) instead of ending the check.
 */
const checkScenarios = <A, E>(
  arbitrary: Arbitrary.Arbitrary<A>,
  runs: number,
  scenarioOf: (value: A) => Scenario,
  property: (value: A) => Effect.Effect<void, E, World>
) =>
  Arbitrary.checkEffect(
    arbitrary,
    (value): Effect.Effect<boolean, E | Cause.Cause<E>> =>
      property(value).pipe(
        Effect.as(true),
        Effect.scoped,
        Effect.provide(layerFor(scenarioOf(value))),
        Effect.provide(TestClock.layer()),
        Effect.catchCause(
          (cause): Effect.Effect<never, E | Cause.Cause<E>> =>
            Cause.hasInterrupts(cause) ? Effect.failCause(cause) : Effect.fail(cause)
        )
      ),
    checkOptions(runs)
  )

describe("AssignNumber invariants", () => {
  it.effect(
    "I1-I5 hold under random stock, faults, concurrency and duplicate deliveries",
    () =>
      Effect.gen(function* () {
        const tally = new Tally()
        const result = yield* checkScenarios(
          Arbitrary.schema(Scenario),
          RUNS,
          (scenario) => scenario,
          (scenario) =>
            Effect.gen(function* () {
              tally.scenarios++
              const ids = yield* run(scenario)
              yield* countOutcomes(tally)
              yield* checkInvariants(scenario, ids, tally)
            })
        )
        reportFigures("property schedules", { result: result._tag, ...tally.figures() })
        if (result._tag !== "Passed") return assert.fail(Arbitrary.formatCheckFailure(result))
        assert.strictEqual(tally.violations, 0)
        // It ran every schedule it generated, and checked every business each made.
        assert.strictEqual(result.runs, RUNS)
        assert.strictEqual(tally.scenarios, RUNS)
        assert.isAtLeast(tally.businesses, tally.scenarios)
        assert.strictEqual(tally.assigned + tally.failed, tally.businesses)
        // At least I5 and the purchase count per schedule, and I1, I2 and I4 (twice) per business.
        assert.isAtLeast(tally.checks, 2 * tally.scenarios + 4 * tally.businesses)
      }),
    { timeout: 600_000 }
  )

  it.effect(
    "with fatal errors among the faults: still one purchase at most, and every business ends with a status",
    () =>
      Effect.gen(function* () {
        const tally = new Tally()
        const result = yield* checkScenarios(
          Arbitrary.all([
            Arbitrary.schema(Scenario),
            Arbitrary.schema(Schema.Array(Between(0, 11)).check(Schema.isMaxLength(2)))
          ]),
          Math.ceil(RUNS / 3),
          ([scenario]) => scenario,
          ([scenario, rejectAt]) =>
            Effect.gen(function* () {
              tally.scenarios++
              const verify = tally.assert
              const faults = scenario.faults.map(toFault)
              for (const at of rejectAt) faults.splice(Math.min(at, faults.length), 0, { _tag: "rejected" })
              yield* MemoryTelephonyControl.use((t) => t.injectFaults(faults))
              const ids = yield* run({ ...scenario, faults: [] })
              yield* countOutcomes(tally)
              const purchases = yield* MemoryTelephonyControl.use((t) => t.purchases)
              const businesses = yield* MemoryRepositoryControl.use((r) => r.businesses)
              verify.strictEqual(businesses.length, ids.length)
              for (const business of businesses) {
                const mine = purchases.filter((p) => p.friendlyName === `business:${business.id}`)
                verify.isAtMost(mine.length, 1, "I1")
                if (business.numberStatus === "assigned")
                  verify.strictEqual(business.phoneNumber?.twilioSid, mine[0]?.sid)
                else {
                  verify.strictEqual(business.numberStatus, "failed")
                  verify.include(["no_numbers_available", "telephony_rejected"], business.failureReason)
                }
              }
            })
        )
        reportFigures("property schedules with fatal faults", { result: result._tag, ...tally.figures() })
        if (result._tag !== "Passed") return assert.fail(Arbitrary.formatCheckFailure(result))
        assert.strictEqual(tally.violations, 0)
        assert.strictEqual(result.runs, Math.ceil(RUNS / 3))
        assert.strictEqual(tally.scenarios, Math.ceil(RUNS / 3))
        assert.isAtLeast(tally.businesses, tally.scenarios)
        assert.strictEqual(tally.assigned + tally.failed, tally.businesses)
        // At least the business count per schedule, and I1 and the status per business.
        assert.isAtLeast(tally.checks, tally.scenarios + 2 * tally.businesses)
      }),
    { timeout: 600_000 }
  )
})
