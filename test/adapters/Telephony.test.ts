// The Telephony contract: the same cases against the in-memory fake and the Twilio adapter (over HTTP to a
// local Twilio), so the fake behaves like Twilio wherever the program relies on it.
import { assert, describe, it } from "@effect/vitest"
import { Context, DateTime, Duration, Effect, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as MemoryTelephony from "../../src/adapters/memory/MemoryTelephony.ts"
import { MemoryTelephonyControl } from "../../src/adapters/memory/MemoryTelephony.ts"
import * as PgSandboxTelephony from "../../src/adapters/postgres/PgSandboxTelephony.ts"
import * as TwilioTelephony from "../../src/adapters/twilio/TwilioTelephony.ts"
import type { TwilioSid } from "../../src/domain/ids.ts"
import { nearbyOf, type UsState } from "../../src/domain/nearby.ts"
import { type AreaCode, areaCodeOf, type E164 } from "../../src/domain/phone.ts"
import { Telephony } from "../../src/ports/Telephony.ts"
import { testDatabase } from "../support/database.ts"
import { type FakeTwilio, startFakeTwilio } from "../support/fakeTwilio.ts"

type Fault = "rate-limited" | "unavailable" | "ambiguous" | "rejected" | "taken"

/** How a test makes the next call meet a fault, whichever adapter is under test. */
class FaultInjector extends Context.Service<
  FaultInjector,
  { readonly inject: (fault: Fault) => Effect.Effect<void> }
>()("test/FaultInjector") {}

// All start with 415 stocked (2), 212 empty and 555 unknown to the provider, and New York selling 718's next
// three numbers (the sandbox derives them from 718's stock; the others list them).
const NEW_YORK = ["+17185551000", "+17185551001", "+17185551002"]
const memory = Layer.effect(
  FaultInjector,
  Effect.gen(function* () {
    const control = yield* MemoryTelephonyControl
    return {
      inject: (fault: Fault) =>
        control.injectFaults([
          fault === "rate-limited" ? { _tag: fault, retryAfterMillis: 1_000 } : { _tag: fault }
        ])
    }
  })
).pipe(
  Layer.provideMerge(
    MemoryTelephony.layer({
      inventory: { "415": 2, "212": 0 },
      unknownAreaCodes: ["555"],
      regions: { NY: NEW_YORK }
    })
  )
)

const overHttp = Layer.unwrap(
  Effect.gen(function* () {
    const fake = yield* Effect.acquireRelease(
      Effect.sync(() =>
        startFakeTwilio({
          stock: { "415": 2, "212": 0 },
          unknownAreaCodes: ["555"],
          regions: { NY: NEW_YORK }
        })
      ),
      (fake) => Effect.sync(() => fake.stop())
    )
    const codes = {
      "rate-limited": "429",
      unavailable: "500",
      ambiguous: "ambiguous",
      rejected: "401",
      taken: "taken"
    } as const
    return Layer.merge(
      Layer.succeed(FaultInjector, {
        inject: (fault: Fault) => Effect.sync(() => fake.injectFaults(codes[fault]))
      }),
      TwilioTelephony.layer({
        accountSid: fake.accountSid,
        authToken: Redacted.make(fake.authToken),
        apiUrl: fake.url
      })
    )
  })
)

// Sandbox mode's simulated Twilio on a fresh database. It simulates no faults: the fault cases skip it.
const sandbox = Layer.merge(
  Layer.succeed(FaultInjector, { inject: (fault: Fault) => Effect.die(`the sandbox simulates no ${fault}`) }),
  PgSandboxTelephony.layer({ inventory: { "415": 2, "212": 0, "718": 3 }, unknownAreaCodes: ["555"] }).pipe(
    Layer.provide(testDatabase())
  )
)

/** A SID no provider has sold: Twilio answers 404 (20404) for it. */
const unknownSid = `PN${"f".repeat(32)}` as TwilioSid

const request = (areaCode: string, friendlyName: string) => ({
  areaCode: areaCode as AreaCode,
  voiceUrl: `https://numbers.test/webhooks/twilio/inbound?business_id=${friendlyName}`,
  friendlyName: `business:${friendlyName}`
})

const numberRequest = (phoneNumber: string, friendlyName: string) => ({
  phoneNumber: phoneNumber as E164,
  voiceUrl: `https://numbers.test/webhooks/twilio/inbound?business_id=${friendlyName}`,
  friendlyName: `business:${friendlyName}`
})

const search = (region: string, limit: number) => ({ region: region as UsState, limit })

/** The state of a listed number's area code (by NANPA's table). */
const stateOf = (e164: E164) => {
  const areaCode = areaCodeOf(e164)
  return areaCode && nearbyOf(areaCode)?.state
}

for (const [name, harness, faults] of [
  ["memory", memory, true],
  ["twilio over HTTP", overHttp, true],
  ["sandbox on Postgres", sandbox, false]
] as const) {
  describe(`Telephony contract: ${name}`, () => {
    // Fault cases need a provider that can fail on demand; the sandbox's are reported as skipped, saying why.
    const withFaults = (title: string, body: () => Effect.Effect<void, unknown>) =>
      faults
        ? it.effect(title, body)
        : it.effect.skip(`${title} (skipped: the sandbox simulates no provider faults)`, body)
    const run = <A, E>(
      body: (inject: (fault: Fault) => Effect.Effect<void>) => Effect.Effect<A, E, Telephony>
    ) =>
      TestClock.withLive(
        FaultInjector.use((f) => body(f.inject)).pipe(Effect.provide(harness), Effect.scoped)
      )

    it.effect("buys in a stocked area code with the voice URL and FriendlyName, and finds it again", () =>
      run(() =>
        Effect.gen(function* () {
          const telephony = yield* Telephony
          const bought = yield* telephony.purchase(request("415", "b1"))
          assert.match(bought.e164, /^\+1415\d{7}$/)
          assert.match(bought.sid, /^PN[0-9a-f]{32}$/)
          assert.strictEqual(bought.friendlyName, "business:b1")
          assert.strictEqual(bought.voiceUrl, "https://numbers.test/webhooks/twilio/inbound?business_id=b1")
          assert.deepStrictEqual(yield* telephony.findOwned("business:b1"), bought)
          assert.isNull(yield* telephony.findOwned("business:nobody"))
        })
      )
    )

    it.effect("an empty area code is NoNumbersInAreaCode; an unknown one InvalidAreaCode", () =>
      run(() =>
        Effect.gen(function* () {
          const telephony = yield* Telephony
          const empty = yield* Effect.flip(telephony.purchase(request("212", "b2")))
          assert.deepStrictEqual(
            [empty._tag, "areaCode" in empty && empty.areaCode],
            ["NoNumbersInAreaCode", "212"]
          )
          const unknown = yield* Effect.flip(telephony.purchase(request("555", "b2")))
          assert.strictEqual(unknown._tag, "InvalidAreaCode")
          yield* telephony.purchase(request("415", "x1"))
          yield* telephony.purchase(request("415", "x2"))
          const soldOut = yield* Effect.flip(telephony.purchase(request("415", "x3")))
          assert.strictEqual(soldOut._tag, "NoNumbersInAreaCode")
        })
      )
    )

    it.effect("updates the voice URL and releases a number", () =>
      run(() =>
        Effect.gen(function* () {
          const telephony = yield* Telephony
          const bought = yield* telephony.purchase(request("415", "b3"))
          yield* telephony.updateVoiceUrl(bought.sid, "https://elsewhere.test/voice?business_id=b3")
          assert.strictEqual(
            (yield* telephony.findOwned("business:b3"))?.voiceUrl,
            "https://elsewhere.test/voice?business_id=b3"
          )
          yield* telephony.release(bought.sid)
          assert.isNull(yield* telephony.findOwned("business:b3"))
          const gone = yield* Effect.flip(telephony.updateVoiceUrl("PN0000" as TwilioSid, "https://x.test"))
          assert.strictEqual(gone._tag, "TelephonyRejected")
        })
      )
    )

    it.effect(
      "fetches a number by SID with its creation date; null for an unknown SID and once released",
      () =>
        run(() =>
          Effect.gen(function* () {
            const telephony = yield* Telephony
            const before = yield* DateTime.now
            const bought = yield* telephony.purchase(request("415", "f1"))
            const after = yield* DateTime.now
            assert.deepStrictEqual(yield* telephony.fetch(bought.sid), bought)
            // Twilio's date_created has whole seconds; the sandbox's is the database's clock.
            const slack = Duration.seconds(1)
            assert.isTrue(
              DateTime.between(bought.dateCreated, {
                minimum: DateTime.subtractDuration(before, slack),
                maximum: DateTime.addDuration(after, slack)
              }),
              `created ${DateTime.formatIso(bought.dateCreated)}, bought between ${DateTime.formatIso(before)} and ${DateTime.formatIso(after)}`
            )
            assert.isNull(yield* telephony.fetch(unknownSid))
            yield* telephony.release(bought.sid)
            assert.isNull(yield* telephony.fetch(bought.sid))
          })
        )
    )

    it.effect("a release is safe to repeat, and a released number is found neither by name nor by SID", () =>
      run(() =>
        Effect.gen(function* () {
          const telephony = yield* Telephony
          const bought = yield* telephony.purchase(request("415", "r1"))
          const kept = yield* telephony.purchase(request("415", "r2"))
          yield* telephony.release(bought.sid)
          // Twilio answers the repeat 404 (20404): already released, so done.
          yield* telephony.release(bought.sid)
          yield* telephony.release(unknownSid)
          assert.isNull(yield* telephony.findOwned("business:r1"))
          assert.isNull(yield* telephony.fetch(bought.sid))
          // Only the number asked for went.
          assert.deepStrictEqual(yield* telephony.fetch(kept.sid), kept)
        })
      )
    )

    it.effect("lists a state's local numbers, at most the limit; a state with none for sale lists none", () =>
      run(() =>
        Effect.gen(function* () {
          const telephony = yield* Telephony
          const listed = yield* telephony.searchLocal(search("NY", 2))
          assert.strictEqual(listed.length, 2)
          for (const n of listed) assert.strictEqual(stateOf(n), "NY" as unknown, n)
          assert.deepStrictEqual(yield* telephony.searchLocal(search("WY", 3)), [])
        })
      )
    )

    it.effect("buys a listed number by PhoneNumber; then it is NumberTaken, and no longer listed", () =>
      run(() =>
        Effect.gen(function* () {
          const telephony = yield* Telephony
          const [first, second] = yield* telephony.searchLocal(search("NY", 3))
          if (first === undefined || second === undefined) return assert.fail("New York lists three numbers")
          const bought = yield* telephony.purchase(numberRequest(first, "n1"))
          assert.deepStrictEqual(
            [bought.e164, bought.friendlyName, bought.voiceUrl],
            [first, "business:n1", "https://numbers.test/webhooks/twilio/inbound?business_id=n1"]
          )
          assert.deepStrictEqual(yield* telephony.findOwned("business:n1"), bought)
          const again = yield* Effect.flip(telephony.purchase(numberRequest(first, "n2")))
          assert.deepStrictEqual(
            [again._tag, "phoneNumber" in again && again.phoneNumber],
            ["NumberTaken", first]
          )
          assert.notInclude(yield* telephony.searchLocal(search("NY", 3)), first)
          // A number never listed is not for sale either.
          const never = yield* Effect.flip(telephony.purchase(numberRequest("+19995550100", "n2")))
          assert.strictEqual(never._tag, "NumberTaken")
          assert.isNull(yield* telephony.findOwned("business:n2"))
          assert.strictEqual((yield* telephony.purchase(numberRequest(second, "n2"))).e164, second)
        })
      )
    )

    withFaults(
      "a number sold between the search and our purchase is NumberTaken, and nothing is bought",
      () =>
        run((inject) =>
          Effect.gen(function* () {
            const telephony = yield* Telephony
            const [first, second] = yield* telephony.searchLocal(search("NY", 3))
            if (first === undefined || second === undefined)
              return assert.fail("New York lists three numbers")
            yield* inject("taken")
            const taken = yield* Effect.flip(telephony.purchase(numberRequest(first, "n3")))
            assert.strictEqual(taken._tag, "NumberTaken")
            assert.isNull(yield* telephony.findOwned("business:n3"))
            assert.notInclude(yield* telephony.searchLocal(search("NY", 3)), first)
            assert.strictEqual((yield* telephony.purchase(numberRequest(second, "n3"))).e164, second)
          })
        )
    )

    withFaults(
      "a purchase by number whose answer is lost is TelephonyUnavailable, and the number is found by FriendlyName",
      () =>
        run((inject) =>
          Effect.gen(function* () {
            const telephony = yield* Telephony
            const [first] = yield* telephony.searchLocal(search("NY", 1))
            if (first === undefined) return assert.fail("New York lists a number")
            yield* inject("ambiguous")
            const lost = yield* Effect.flip(telephony.purchase(numberRequest(first, "n4")))
            assert.strictEqual(lost._tag, "TelephonyUnavailable")
            assert.strictEqual((yield* telephony.findOwned("business:n4"))?.e164, first)
          })
        )
    )

    withFaults(
      "a search meets faults as the lookups do: 429 TelephonyRateLimited, 5xx TelephonyUnavailable",
      () =>
        run((inject) =>
          Effect.gen(function* () {
            const telephony = yield* Telephony
            yield* inject("rate-limited")
            assert.strictEqual(
              (yield* Effect.flip(telephony.searchLocal(search("NY", 3))))._tag,
              "TelephonyRateLimited"
            )
            yield* inject("unavailable")
            assert.strictEqual(
              (yield* Effect.flip(telephony.searchLocal(search("NY", 3))))._tag,
              "TelephonyUnavailable"
            )
            assert.strictEqual((yield* telephony.searchLocal(search("NY", 3))).length, 3)
          })
        )
    )

    withFaults(
      "a fetch meets faults as the other calls do: 429 TelephonyRateLimited, 5xx TelephonyUnavailable",
      () =>
        run((inject) =>
          Effect.gen(function* () {
            const telephony = yield* Telephony
            const bought = yield* telephony.purchase(request("415", "f2"))
            yield* inject("rate-limited")
            const limited = yield* Effect.flip(telephony.fetch(bought.sid))
            assert.strictEqual(limited._tag, "TelephonyRateLimited")
            yield* inject("unavailable")
            const down = yield* Effect.flip(telephony.fetch(bought.sid))
            assert.strictEqual(down._tag, "TelephonyUnavailable")
            assert.deepStrictEqual(yield* telephony.fetch(bought.sid), bought)
          })
        )
    )

    withFaults(
      "a release whose answer is lost is TelephonyUnavailable; its retry succeeds on the released number",
      () =>
        run((inject) =>
          Effect.gen(function* () {
            const telephony = yield* Telephony
            const bought = yield* telephony.purchase(request("415", "r3"))
            yield* inject("ambiguous")
            const lost = yield* Effect.flip(telephony.release(bought.sid))
            assert.strictEqual(lost._tag, "TelephonyUnavailable")
            assert.isNull(yield* telephony.fetch(bought.sid))
            yield* telephony.release(bought.sid)
          })
        )
    )

    withFaults("a rate limit is TelephonyRateLimited with its Retry-After; a 5xx TelephonyUnavailable", () =>
      run((inject) =>
        Effect.gen(function* () {
          const telephony = yield* Telephony
          yield* inject("rate-limited")
          const limited = yield* Effect.flip(telephony.purchase(request("415", "b4")))
          assert.deepStrictEqual(
            [limited._tag, "retryAfterMillis" in limited && limited.retryAfterMillis],
            ["TelephonyRateLimited", 1_000]
          )
          yield* inject("unavailable")
          const down = yield* Effect.flip(telephony.findOwned("business:b4"))
          assert.strictEqual(down._tag, "TelephonyUnavailable")
        })
      )
    )

    withFaults(
      "an ambiguous purchase fails as TelephonyUnavailable, and the number is found by FriendlyName",
      () =>
        run((inject) =>
          Effect.gen(function* () {
            const telephony = yield* Telephony
            yield* inject("ambiguous")
            const failed = yield* Effect.flip(telephony.purchase(request("415", "b5")))
            assert.strictEqual(failed._tag, "TelephonyUnavailable")
            const found = yield* telephony.findOwned("business:b5")
            assert.match(found?.e164 ?? "", /^\+1415/)
          })
        )
    )

    withFaults("refused credentials are TelephonyRejected (not retryable)", () =>
      run((inject) =>
        Effect.gen(function* () {
          const telephony = yield* Telephony
          yield* inject("rejected")
          const refused = yield* Effect.flip(telephony.purchase(request("415", "b6")))
          assert.strictEqual(refused._tag, "TelephonyRejected")
        })
      )
    )
  })
}

/** Runs `body` on the real Twilio adapter pointed at a fresh fake Twilio on loopback. */
const onTheWire = <A, E>(
  body: (fake: FakeTwilio) => Effect.Effect<A, E, Telephony>,
  fakeOptions: Parameters<typeof startFakeTwilio>[0] = { defaultStock: 5 },
  adapterOptions: Partial<TwilioTelephony.TwilioOptions> = {}
) =>
  TestClock.withLive(
    Effect.acquireUseRelease(
      Effect.sync(() => startFakeTwilio(fakeOptions)),
      (fake) =>
        body(fake).pipe(
          Effect.provide(
            TwilioTelephony.layer({
              accountSid: fake.accountSid,
              authToken: Redacted.make(fake.authToken),
              apiUrl: fake.url,
              ...adapterOptions
            })
          )
        ),
      (fake) => Effect.sync(() => fake.stop())
    )
  )

describe("Twilio adapter on the wire", () => {
  it.effect("searches by InRegion and PageSize, and buys by PhoneNumber instead of AreaCode", () =>
    onTheWire(
      (fake) =>
        Effect.gen(function* () {
          const telephony = yield* Telephony
          assert.deepStrictEqual(yield* telephony.searchLocal(search("NY", 1)), ["+13475550101"] as never)
          yield* telephony.purchase(numberRequest("+13475550101", "w8"))
          const [searched, buy] = fake.requests()
          assert.strictEqual(
            `${searched?.method} ${searched?.path}`,
            `GET /2010-04-01/Accounts/${fake.accountSid}/AvailablePhoneNumbers/US/Local.json`
          )
          assert.deepStrictEqual(buy?.form, {
            PhoneNumber: "+13475550101",
            VoiceUrl: "https://numbers.test/webhooks/twilio/inbound?business_id=w8",
            VoiceMethod: "POST",
            FriendlyName: "business:w8"
          })
        }),
      { defaultStock: 5, regions: { NY: ["+13475550101", "+17185550102"] } }
    )
  )

  it.effect("21422 is NumberTaken on a purchase by number, and stays TelephonyUnavailable by area code", () =>
    onTheWire(
      (fake) =>
        Effect.gen(function* () {
          const telephony = yield* Telephony
          fake.injectFaults("taken")
          const byNumber = yield* Effect.flip(telephony.purchase(numberRequest("+13475550101", "w9")))
          assert.deepStrictEqual(
            [byNumber._tag, "phoneNumber" in byNumber && byNumber.phoneNumber],
            ["NumberTaken", "+13475550101"]
          )
          fake.injectFaults("taken")
          const byCode = yield* Effect.flip(telephony.purchase(request("650", "w9")))
          assert.deepStrictEqual(
            [byCode._tag, "message" in byCode && byCode.message],
            ["TelephonyUnavailable", "buy number: HTTP 400 (21422): number just taken"]
          )
        }),
      { defaultStock: 5, regions: { NY: ["+13475550101"] } }
    )
  )

  it.effect("sends Twilio's form fields to Twilio's paths, with Basic auth, and no search call", () =>
    onTheWire((fake) =>
      Effect.gen(function* () {
        const telephony = yield* Telephony
        yield* telephony.purchase(request("650", "w1"))
        yield* telephony.findOwned("business:w1")
        const [buy, list] = fake.requests()
        assert.strictEqual(buy?.method, "POST")
        assert.strictEqual(buy?.path, `/2010-04-01/Accounts/${fake.accountSid}/IncomingPhoneNumbers.json`)
        assert.deepStrictEqual(buy?.form, {
          AreaCode: "650",
          VoiceUrl: "https://numbers.test/webhooks/twilio/inbound?business_id=w1",
          VoiceMethod: "POST",
          FriendlyName: "business:w1"
        })
        assert.strictEqual(list?.method, "GET")
        assert.strictEqual(fake.requests().filter((r) => r.path.includes("AvailablePhoneNumbers")).length, 0)
      })
    )
  )

  it.effect(
    "fetch is a GET of the number's path; its 404 (20404) is null, as are the 404s of a repeated release",
    () =>
      onTheWire((fake) =>
        Effect.gen(function* () {
          const telephony = yield* Telephony
          const bought = yield* telephony.purchase(request("650", "w5"))
          const path = `/2010-04-01/Accounts/${fake.accountSid}/IncomingPhoneNumbers/${bought.sid}.json`
          // The fake sends date_created as Twilio does (RFC 2822, "+0000"), to the second.
          assert.strictEqual(DateTime.toEpochMillis(bought.dateCreated) % 1_000, 0)
          assert.deepStrictEqual(yield* telephony.fetch(bought.sid), bought)
          yield* telephony.release(bought.sid)
          yield* telephony.release(bought.sid)
          assert.isNull(yield* telephony.fetch(bought.sid))
          assert.deepStrictEqual(
            fake
              .requests()
              .slice(1)
              .map((r) => `${r.method} ${r.path}`),
            [`GET ${path}`, `DELETE ${path}`, `DELETE ${path}`, `GET ${path}`]
          )
          assert.deepStrictEqual(fake.deletes(), [bought.sid, bought.sid])
        })
      )
  )

  it.effect("a DELETE answered 503 is TelephonyUnavailable, whether or not Twilio released the number", () =>
    onTheWire((fake) =>
      Effect.gen(function* () {
        const telephony = yield* Telephony
        const kept = yield* telephony.purchase(request("650", "w6"))
        fake.failNextDelete("before")
        const failed = yield* Effect.flip(telephony.release(kept.sid))
        assert.deepStrictEqual(
          [failed._tag, failed.message],
          ["TelephonyUnavailable", "release number: HTTP 503 (20503)"]
        )
        assert.deepStrictEqual(yield* telephony.fetch(kept.sid), kept)
        yield* telephony.release(kept.sid)

        const gone = yield* telephony.purchase(request("650", "w7"))
        fake.failNextDelete("after")
        assert.strictEqual((yield* Effect.flip(telephony.release(gone.sid)))._tag, "TelephonyUnavailable")
        // The retry meets 404 (20404): released after all.
        yield* telephony.release(gone.sid)
        assert.isNull(yield* telephony.fetch(gone.sid))
        assert.deepStrictEqual(fake.deletes(), [kept.sid, kept.sid, gone.sid, gone.sid])
      })
    )
  )

  it.effect("a wrong auth token is TelephonyRejected and never shows the token", () =>
    onTheWire(
      () =>
        Effect.gen(function* () {
          const error = yield* Effect.flip((yield* Telephony).purchase(request("650", "w2")))
          assert.strictEqual(error._tag, "TelephonyRejected")
          assert.notInclude(JSON.stringify(error) + String(error), "wrong-secret-token")
        }),
      { defaultStock: 5 },
      { authToken: Redacted.make("wrong-secret-token") }
    )
  )

  it.effect("a connection reset before Twilio answers is TelephonyUnavailable, and nothing was bought", () =>
    onTheWire((fake) =>
      Effect.gen(function* () {
        const telephony = yield* Telephony
        fake.injectFaults("reset")
        const error = yield* Effect.flip(telephony.purchase(request("650", "w4")))
        assert.strictEqual(error._tag, "TelephonyUnavailable")
        assert.isNull(yield* telephony.findOwned("business:w4"))
      })
    )
  )

  it.effect("a Twilio that does not answer in time is TelephonyUnavailable", () =>
    onTheWire(
      (fake) =>
        Effect.gen(function* () {
          fake.injectFaults("slow")
          const error = yield* Effect.flip((yield* Telephony).purchase(request("650", "w3")))
          assert.strictEqual(error._tag, "TelephonyUnavailable")
        }),
      { defaultStock: 5, slowMillis: 2_000 },
      { timeoutMillis: 300 }
    )
  )
})
