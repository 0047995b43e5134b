// The assignment, and the release of a number, against Twilio as recorded (test/cassettes/twilio): each scenario
// runs the program once with the in-memory Telephony set up to match, and once with the Twilio adapter replaying
// the cassette, and both must end the same way. A request no tape matches, or a tape left unused, fails the scenario.
// Recording (CASSETTE_MODE=record, see the README), each scenario has a business of its own, and what it
// bought is released at its end; scenarios the real API cannot stage are recorded against the local Twilio.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as MemoryAssistant from "../../src/adapters/memory/MemoryAssistant.ts"
import * as MemoryBroadcaster from "../../src/adapters/memory/MemoryBroadcaster.ts"
import * as MemoryErrorReporter from "../../src/adapters/memory/MemoryErrorReporter.ts"
import * as MemoryJobQueue from "../../src/adapters/memory/MemoryJobQueue.ts"
import * as MemoryMailer from "../../src/adapters/memory/MemoryMailer.ts"
import * as MemoryRepository from "../../src/adapters/memory/MemoryRepository.ts"
import * as MemoryTelephony from "../../src/adapters/memory/MemoryTelephony.ts"
import * as TwilioTelephony from "../../src/adapters/twilio/TwilioTelephony.ts"
import { type AssignmentOutcome, assignNumber } from "../../src/app/usecases/AssignNumber.ts"
import { Settings } from "../../src/app/usecases/Settings.ts"
import type { TwilioSid } from "../../src/domain/ids.ts"
import type { UsState } from "../../src/domain/nearby.ts"
import type { AreaCode } from "../../src/domain/phone.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { Telephony } from "../../src/ports/Telephony.ts"
import { type Cassette, openCassette } from "../support/cassettes.ts"
import { startFakeTwilio, type TwilioFault } from "../support/fakeTwilio.ts"
import { newTrial } from "../support/fixtures.ts"

interface Scenario {
  readonly cassette: string
  readonly requested: string | null
  /** The same situation for the in-memory fake. */
  readonly memory: MemoryTelephony.MemoryTelephonyOptions & {
    readonly faults?: ReadonlyArray<MemoryTelephony.TelephonyFault>
  }
  /** The same situation on the local Twilio (only used when recording without real credentials). */
  readonly local: {
    readonly stock: Record<string, number>
    readonly regions?: Record<string, ReadonlyArray<string>>
    readonly faults?: ReadonlyArray<TwilioFault>
  }
  /** FALLBACK_AREA_CODES, when not the default. */
  readonly fallbacks?: ReadonlyArray<string>
  /** A number bought for the business by an earlier attempt that died before recording it. */
  readonly orphan?: boolean
  /**
   * Only the local Twilio can stage it (a 429, a 5xx, an empty area code, refused credentials): recorded
   * against it even when real credentials are set.
   */
  readonly localOnly: boolean
  readonly expect: (outcome: AssignmentOutcome) => void
}

const assignedIn = (areaCode: string) => (outcome: AssignmentOutcome) => {
  assert.strictEqual(outcome._tag, "Assigned")
  assert.strictEqual(outcome._tag === "Assigned" && outcome.number.areaCode, areaCode as unknown)
}
const failedWith = (reason: string) => (outcome: AssignmentOutcome) =>
  assert.deepStrictEqual([outcome._tag, outcome._tag === "Failed" && outcome.reason], ["Failed", reason])

const scenarios: ReadonlyArray<Scenario> = [
  {
    cassette: "provision_number_success",
    localOnly: false,
    requested: "415",
    memory: { inventory: { "415": 1 } },
    local: { stock: { "415": 1 } },
    expect: assignedIn("415")
  },
  {
    cassette: "provision_number_fallback_415",
    localOnly: true,
    requested: "212",
    memory: { inventory: { "212": 0, "415": 1 } },
    local: { stock: { "212": 0, "415": 1 } },
    expect: assignedIn("415")
  },
  {
    cassette: "provision_number_no_numbers",
    localOnly: true,
    requested: "212",
    memory: { inventory: {} },
    local: { stock: {} },
    expect: failedWith("no_numbers_available")
  },
  {
    cassette: "update_webhook_success",
    localOnly: false,
    requested: "415",
    orphan: true,
    memory: { inventory: { "415": 1 } },
    local: { stock: { "415": 1 } },
    expect: assignedIn("415")
  },
  {
    cassette: "rate_limited_then_success",
    localOnly: true,
    requested: "415",
    memory: { inventory: { "415": 1 }, faults: [{ _tag: "rate-limited", retryAfterMillis: 1_000 }] },
    local: { stock: { "415": 1 }, faults: ["none", "429"] },
    expect: assignedIn("415")
  },
  {
    cassette: "ambiguous_500_then_reconcile",
    localOnly: true,
    requested: "415",
    memory: { inventory: { "415": 2 }, faults: [{ _tag: "unavailable" }, { _tag: "ambiguous" }] },
    local: { stock: { "415": 2 }, faults: ["none", "ambiguous"] },
    expect: assignedIn("415")
  },
  {
    cassette: "auth_rejected",
    localOnly: true,
    requested: "415",
    memory: { inventory: { "415": 1 }, faults: [{ _tag: "rejected" }] },
    local: { stock: { "415": 1 }, faults: ["401"] },
    expect: failedWith("telephony_rejected")
  }
]

// Nearby (FALLBACK_AREA_CODES `nearby`), recorded against the local Twilio only: the real one cannot be made to
// sell out Manhattan, or to sell a listed number to someone else on cue. New York lists three numbers.
const NEW_YORK = ["+13475550101", "+17185550102", "+19295550103"]

const purchaseByPhoneNumber: Scenario = {
  // 212 and its overlays are empty, so New York is searched; its first number is sold to someone else
  // between the search and our purchase (21422), so the second is bought, by PhoneNumber.
  cassette: "purchase_by_phone_number",
  localOnly: true,
  requested: "212",
  fallbacks: ["nearby"],
  memory: { inventory: {}, regions: { NY: NEW_YORK }, faults: [{ _tag: "taken" }] },
  // The fault meets the seventh request: the lookup, four purchases by AreaCode and the search come first.
  local: {
    stock: {},
    regions: { NY: NEW_YORK },
    faults: [...Array.from({ length: 6 }, () => "none" as const), "taken"]
  },
  expect: assignedIn("718")
}

// Ids must be the same on every run (they are in the recorded URLs and bodies), and differ between scenarios:
// on a real account, a scenario meeting another's business would find its number by FriendlyName and
// reconcile instead of buying. The scenario's index is the fourth group (scenario 0: ...-8000-...).
const idPrefix = (scenario: number) => `00000000-0000-4000-8${String(scenario).padStart(3, "0")}`
const deterministicIds = (scenario: number) => {
  let n = 0
  return () => `${idPrefix(scenario)}-${String(++n).padStart(12, "0")}`
}
/** The scenario's business: user 1, trial 2, business 3 of its ids. */
const businessOf = (scenario: number) => `${idPrefix(scenario)}-000000000003`

const programLayer = <T>(telephony: Layer.Layer<T>, scenario: number, fallbacks?: ReadonlyArray<string>) =>
  Layer.mergeAll(
    telephony,
    MemoryRepository.layerWith({ newId: deterministicIds(scenario) }),
    MemoryAssistant.layer(),
    MemoryMailer.layer,
    MemoryBroadcaster.layer,
    MemoryErrorReporter.layer,
    MemoryJobQueue.layer(),
    Settings.layer({
      appUrl: "https://numbers.example.com",
      vapiWebhookSecret: Redacted.make("unused"),
      stockChurnRetries: 0,
      ...(fallbacks ? { fallbackAreaCodes: fallbacks } : {})
    })
  )

/** Converts one trial and assigns it (a scenario's orphan is bought before, as by an attempt that died). */
const run = (scenario: Scenario) =>
  Effect.gen(function* () {
    const repo = yield* Repository
    const trial = yield* repo.createTrial(newTrial({ requestedAreaCode: scenario.requested }))
    const { business } = yield* repo.convertTrial(trial.id)
    return yield* assignNumber(business.id)
  })

/** The Twilio adapter on the API a recording goes to, with the credentials it records with. */
const upstreamTelephony = (cassette: Cassette, upstream: string) =>
  TwilioTelephony.layer({
    accountSid: cassette.credentials.twilioAccountSid,
    authToken: Redacted.make(cassette.credentials.twilioAuthToken),
    apiUrl: upstream
  })

/** Recording only: the orphan is bought on the API recorded against, directly (it is not on the tape). */
const buyOrphan = (cassette: Cassette, businessId: string) => {
  const upstream = cassette.upstream
  if (upstream === null) return Effect.void
  return Telephony.use((t) =>
    t.purchase({
      areaCode: "415" as AreaCode,
      voiceUrl: "https://old.example.com/voice",
      friendlyName: `business:${businessId}`
    })
  ).pipe(Effect.provide(upstreamTelephony(cassette, upstream)), Effect.orDie)
}

/**
 * Recording only: whatever the scenario bought is released (DELETE) at its end, directly on the API recorded
 * against (not on the tape), so a real account keeps no number. A failure here fails the scenario loudly.
 */
const releaseBought = (cassette: Cassette, businessId: string) => {
  const upstream = cassette.upstream
  if (upstream === null) return Effect.void
  return Effect.gen(function* () {
    const telephony = yield* Telephony
    // One number per business; a few rounds in case an interrupted earlier recording left one behind.
    for (let round = 0; round < 3; round++) {
      const owned = yield* telephony.findOwned(`business:${businessId}`)
      if (!owned) return
      yield* telephony.release(owned.sid)
    }
  }).pipe(Effect.provide(upstreamTelephony(cassette, upstream)), Effect.orDie)
}

// The nearby scenario's ids come after the two release scenarios' (below), whose tapes hold theirs.
const assignmentScenarios: ReadonlyArray<readonly [number, Scenario]> = [
  ...scenarios.entries(),
  [scenarios.length + 2, purchaseByPhoneNumber]
]

describe("Twilio cassettes", () => {
  for (const [index, scenario] of assignmentScenarios) {
    describe(scenario.cassette, () => {
      it.effect("the in-memory Telephony", () =>
        Effect.gen(function* () {
          if (scenario.orphan) {
            yield* Telephony.use((t) =>
              t.purchase({
                areaCode: "415" as AreaCode,
                voiceUrl: "https://old.example.com/voice",
                friendlyName: `business:${businessOf(index)}`
              })
            )
          }
          yield* MemoryTelephony.MemoryTelephonyControl.use((t) =>
            t.injectFaults(scenario.memory.faults ?? [])
          )
          scenario.expect(yield* run(scenario))
          const purchases = yield* MemoryTelephony.MemoryTelephonyControl.use((t) => t.purchases)
          assert.isAtMost(purchases.length, 1)
        }).pipe(
          Effect.provide(programLayer(MemoryTelephony.layer(scenario.memory), index, scenario.fallbacks)),
          TestClock.withLive
        )
      )

      it.effect("the Twilio adapter on the cassette", () =>
        Effect.gen(function* () {
          const local = startFakeTwilio({
            stock: scenario.local.stock,
            ...(scenario.local.regions ? { regions: scenario.local.regions } : {})
          })
          const cassette = yield* Effect.acquireRelease(
            Effect.promise(() =>
              openCassette(
                "twilio",
                scenario.cassette,
                {
                  url: local.url,
                  credentials: { twilioAccountSid: local.accountSid, twilioAuthToken: local.authToken }
                },
                { localOnly: scenario.localOnly }
              )
            ),
            (c) =>
              Effect.promise(() => c.close()).pipe(
                Effect.andThen(releaseBought(c, businessOf(index))),
                Effect.ensuring(Effect.sync(() => local.stop()))
              )
          )
          if (scenario.orphan) yield* buyOrphan(cassette, businessOf(index))
          local.injectFaults(...(scenario.local.faults ?? []))
          const outcome = yield* run(scenario).pipe(
            Effect.provide(
              programLayer(
                TwilioTelephony.layer({
                  accountSid: cassette.credentials.twilioAccountSid,
                  authToken: Redacted.make(cassette.credentials.twilioAuthToken),
                  apiUrl: cassette.url
                }),
                index,
                scenario.fallbacks
              )
            )
          )
          scenario.expect(outcome)
          assert.deepStrictEqual(cassette.misses(), [], "every request matched a recorded one")
          assert.deepStrictEqual(cassette.unused(), [], "every recorded interaction was used")
        }).pipe(Effect.scoped, TestClock.withLive)
      )
    })
  }
})

/** A call a release scenario makes, and what it came to: the number fetched (null: none), or `released`. */
type ReleaseCall = "fetch" | "release"
type ReleaseResult =
  | {
      readonly sid: string
      readonly e164: string
      readonly friendlyName: string
      readonly voiceUrl: string | null
    }
  | null
  | "released"

interface ReleaseScenario {
  readonly cassette: string
  /** Released before the tape starts too: an earlier release went through, and its 204 (or our record) was lost. */
  readonly releasedBefore: boolean
  /** The calls on the tape, in order, on the number bought before it starts. */
  readonly calls: ReadonlyArray<ReleaseCall>
  readonly expect: (number: Exclude<ReleaseResult, "released" | null>) => ReadonlyArray<ReleaseResult>
}

// Both are recorded against the local Twilio only: a replay must ask for the SID the recording bought, and only
// a fresh local Twilio's is known ahead (its first number is PN…01, as the in-memory one's is).
const releaseScenarios: ReadonlyArray<ReleaseScenario> = [
  {
    cassette: "release_number_success",
    releasedBefore: false,
    calls: ["fetch", "release"],
    expect: (number) => [number, "released"]
  },
  {
    // Twilio answers the DELETE 404 (20404): counted as released, so a release retried after a crash ends.
    cassette: "release_number_already_released",
    releasedBefore: true,
    calls: ["release", "fetch"],
    expect: () => ["released", null]
  }
]

const releasedSid = `PN${"1".padStart(32, "0")}` as TwilioSid

/** The number a release scenario's business owns before the tape starts (bought, and released if so told). */
const setUpNumber = (scenario: ReleaseScenario, businessId: string) =>
  Effect.gen(function* () {
    const telephony = yield* Telephony
    const bought = yield* telephony.purchase({
      areaCode: "415" as AreaCode,
      voiceUrl: `https://numbers.example.com/webhooks/twilio/inbound?business_id=${businessId}`,
      friendlyName: `business:${businessId}`
    })
    if (bought.sid !== releasedSid)
      return yield* Effect.die(`bought ${bought.sid}, the tapes ask for ${releasedSid}`)
    if (scenario.releasedBefore) yield* telephony.release(bought.sid)
  })

/** The number as a scenario expects it fetched. */
const numberOf = (businessId: string) => ({
  sid: releasedSid,
  e164: "+14155551000",
  friendlyName: `business:${businessId}`,
  voiceUrl: `https://numbers.example.com/webhooks/twilio/inbound?business_id=${businessId}`
})

const callAll = (calls: ReadonlyArray<ReleaseCall>) =>
  Effect.gen(function* () {
    const telephony = yield* Telephony
    const results: Array<ReleaseResult> = []
    for (const call of calls) {
      if (call === "release") {
        yield* telephony.release(releasedSid)
        results.push("released")
        continue
      }
      const found = yield* telephony.fetch(releasedSid)
      results.push(
        found && {
          sid: found.sid,
          e164: found.e164,
          friendlyName: found.friendlyName,
          voiceUrl: found.voiceUrl
        }
      )
    }
    return results
  })

describe("Twilio cassettes: releasing a number", () => {
  for (const [offset, scenario] of releaseScenarios.entries()) {
    // Ids of their own, after the assignment scenarios'.
    const businessId = businessOf(scenarios.length + offset)
    describe(scenario.cassette, () => {
      it.effect("the in-memory Telephony", () =>
        Effect.gen(function* () {
          yield* setUpNumber(scenario, businessId)
          assert.deepStrictEqual(yield* callAll(scenario.calls), scenario.expect(numberOf(businessId)))
          assert.deepStrictEqual(yield* MemoryTelephony.MemoryTelephonyControl.use((t) => t.owned), [])
        }).pipe(Effect.provide(MemoryTelephony.layer({ inventory: { "415": 1 } })), TestClock.withLive)
      )

      it.effect("the Twilio adapter on the cassette", () =>
        Effect.gen(function* () {
          const local = startFakeTwilio({ stock: { "415": 1 } })
          const cassette = yield* Effect.acquireRelease(
            Effect.promise(() =>
              openCassette(
                "twilio",
                scenario.cassette,
                {
                  url: local.url,
                  credentials: { twilioAccountSid: local.accountSid, twilioAuthToken: local.authToken }
                },
                { localOnly: true }
              )
            ),
            (c) =>
              Effect.promise(() => c.close()).pipe(
                Effect.andThen(releaseBought(c, businessId)),
                Effect.ensuring(Effect.sync(() => local.stop()))
              )
          )
          // Recording only: the number is bought (and released) on the local Twilio directly, off the tape.
          if (cassette.upstream !== null)
            yield* setUpNumber(scenario, businessId).pipe(
              Effect.provide(upstreamTelephony(cassette, cassette.upstream)),
              Effect.orDie
            )
          const results = yield* callAll(scenario.calls).pipe(
            Effect.provide(
              TwilioTelephony.layer({
                accountSid: cassette.credentials.twilioAccountSid,
                authToken: Redacted.make(cassette.credentials.twilioAuthToken),
                apiUrl: cassette.url
              })
            )
          )
          assert.deepStrictEqual(results, scenario.expect(numberOf(businessId)))
          assert.deepStrictEqual(cassette.misses(), [], "every request matched a recorded one")
          assert.deepStrictEqual(cassette.unused(), [], "every recorded interaction was used")
        }).pipe(Effect.scoped, TestClock.withLive)
      )
    })
  }
})

// A search alone: at most the limit, in Twilio's order; a state with nothing for sale lists nothing.
describe("Twilio cassettes: searching a state", () => {
  const searches = [
    { region: "NY", limit: 2 },
    { region: "WY", limit: 3 }
  ].map(({ region, limit }) => ({ region: region as UsState, limit }))
  const expected: ReadonlyArray<ReadonlyArray<string>> = [NEW_YORK.slice(0, 2), []]
  const searchAll = Telephony.use((telephony) =>
    Effect.forEach(searches, (search) => telephony.searchLocal(search))
  )

  describe("search_in_region", () => {
    it.effect("the in-memory Telephony", () =>
      searchAll.pipe(
        Effect.map((found) => assert.deepStrictEqual<ReadonlyArray<ReadonlyArray<string>>>(found, expected)),
        Effect.provide(MemoryTelephony.layer({ regions: { NY: NEW_YORK } }))
      )
    )

    it.effect("the Twilio adapter on the cassette", () =>
      Effect.gen(function* () {
        const local = startFakeTwilio({ regions: { NY: NEW_YORK } })
        const cassette = yield* Effect.acquireRelease(
          Effect.promise(() =>
            openCassette(
              "twilio",
              "search_in_region",
              {
                url: local.url,
                credentials: { twilioAccountSid: local.accountSid, twilioAuthToken: local.authToken }
              },
              { localOnly: true }
            )
          ),
          (c) => Effect.promise(() => c.close()).pipe(Effect.ensuring(Effect.sync(() => local.stop())))
        )
        const found = yield* searchAll.pipe(
          Effect.provide(
            TwilioTelephony.layer({
              accountSid: cassette.credentials.twilioAccountSid,
              authToken: Redacted.make(cassette.credentials.twilioAuthToken),
              apiUrl: cassette.url
            })
          )
        )
        assert.deepStrictEqual<ReadonlyArray<ReadonlyArray<string>>>(found, expected)
        assert.deepStrictEqual(cassette.misses(), [], "every request matched a recorded one")
        assert.deepStrictEqual(cassette.unused(), [], "every recorded interaction was used")
      }).pipe(Effect.scoped, TestClock.withLive)
    )
  })
})
