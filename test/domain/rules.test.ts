import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { areaCodeChain } from "../../src/domain/areaCodeChain.ts"
import type { BusinessId } from "../../src/domain/ids.ts"
import { areaCodeOf, E164, formatNational, isAreaCode } from "../../src/domain/phone.ts"
import { friendlyNameFor, twilioVoiceUrl, vapiServerUrl } from "../../src/domain/webhooks.ts"

const ThreeDigits = Schema.String.check(Schema.isPattern(/^\d{3}$/))
const AnyCode = Schema.Union([ThreeDigits, Schema.String])

describe("AreaCode", () => {
  it.effect.prop("accepts exactly three digits, first 2-9, not N11", [ThreeDigits], ([code]) =>
    Effect.sync(() => {
      const expected = code[0] !== "0" && code[0] !== "1" && code.slice(1) !== "11"
      assert.strictEqual(isAreaCode(code), expected, code)
    })
  )

  it.effect("rejects service codes, leading 0/1 and wrong lengths", () =>
    Effect.sync(() => {
      for (const bad of ["411", "911", "011", "123", "41", "4155", "", " 415", "abc"])
        assert.isFalse(isAreaCode(bad), bad)
      for (const good of ["415", "510", "650", "212", "999"]) assert.isTrue(isAreaCode(good), good)
    })
  )
})

describe("areaCodeChain", () => {
  it.effect.prop(
    "requested first when valid, then fallbacks in order, each valid code once",
    [Schema.NullOr(AnyCode), Schema.Array(AnyCode)],
    ([requested, fallbacks]) =>
      Effect.sync(() => {
        const chain = areaCodeChain(requested, fallbacks)
        assert.strictEqual(new Set(chain).size, chain.length, "no duplicates")
        for (const code of chain) assert.isTrue(isAreaCode(code))
        const requestedValid = requested !== null && isAreaCode(requested.trim())
        if (requestedValid) assert.strictEqual(chain[0], requested.trim())
        const expected = [
          ...(requestedValid ? [requested.trim()] : []),
          ...fallbacks.map((c) => c.trim())
        ].filter((c, i, all) => isAreaCode(c) && all.indexOf(c) === i)
        assert.deepStrictEqual<ReadonlyArray<string>>(chain, expected)
      })
  )

  it.effect("skips an invalid request and repeats of the fallbacks", () =>
    Effect.sync(() => {
      assert.deepStrictEqual<ReadonlyArray<string>>(areaCodeChain("911", ["415", "510", "650"]), [
        "415",
        "510",
        "650"
      ])
      assert.deepStrictEqual<ReadonlyArray<string>>(areaCodeChain("510", ["415", "510", "650"]), [
        "510",
        "415",
        "650"
      ])
      assert.deepStrictEqual<ReadonlyArray<string>>(areaCodeChain(null, ["415", "415", "x", "650"]), [
        "415",
        "650"
      ])
    })
  )
})

describe("E164 and formatting", () => {
  const Npa = Schema.Int.check(Schema.isBetween({ minimum: 200, maximum: 999 }))
  it.effect.prop("US numbers format as (NPA) NXX-XXXX and give their area code", [Npa], ([npa]) =>
    Effect.sync(() => {
      const code = String(npa)
      if (!isAreaCode(code)) return
      const e164 = Schema.decodeSync(E164)(`+1${code}5550123`)
      assert.strictEqual(formatNational(e164), `(${code}) 555-0123`)
      assert.strictEqual(areaCodeOf(e164), code)
    })
  )

  it.effect("other countries stay in E.164", () =>
    Effect.sync(() => {
      const uk = Schema.decodeSync(E164)("+442071838750")
      assert.strictEqual(formatNational(uk), "+442071838750")
      assert.isNull(areaCodeOf(uk))
      assert.isFalse(Schema.is(E164)("4155550123"))
    })
  )
})

describe("webhook URLs", () => {
  const Id = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9-]{1,40}$/))
  it.effect.prop("carry the business id and build on APP_URL", [Id], ([id]) =>
    Effect.sync(() => {
      const businessId = id as BusinessId
      for (const base of [
        "https://numbers.example.com",
        "https://numbers.example.com/",
        "http://localhost:3000"
      ]) {
        const twilio = new URL(twilioVoiceUrl(base, businessId))
        const vapi = new URL(vapiServerUrl(base, businessId))
        assert.strictEqual(twilio.searchParams.get("business_id"), id)
        assert.strictEqual(vapi.searchParams.get("business_id"), id)
        assert.strictEqual(twilio.pathname, "/webhooks/twilio/inbound")
        assert.strictEqual(vapi.pathname, "/webhooks/vapi")
        assert.strictEqual(twilio.origin, new URL(base).origin)
      }
      assert.strictEqual(friendlyNameFor(businessId), `business:${id}`)
    })
  )

  it.effect("keep a path prefix of APP_URL", () =>
    Effect.sync(() => {
      assert.strictEqual(
        twilioVoiceUrl("https://example.com/numbers/", "b1" as BusinessId),
        "https://example.com/numbers/webhooks/twilio/inbound?business_id=b1"
      )
    })
  )
})
