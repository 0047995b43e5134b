// FALLBACK_AREA_CODES as AppConfig reads it: area codes and `nearby`, each once; its default follows Twilio.
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { loadAppConfig } from "../../../src/app/layers/AppConfig.ts"

const TWILIO = {
  TWILIO_ACCOUNT_SID: "AC1",
  TWILIO_AUTH_TOKEN: "token",
  APP_URL: "https://numbers.example.test",
  VAPI_WEBHOOK_SECRET: "v",
  AUTH_SECRET: "a"
}

const fallbacksWith = (env: Record<string, string>) =>
  loadAppConfig.pipe(
    Effect.map((config) => config.fallbackAreaCodes),
    Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env)))
  )

describe("FALLBACK_AREA_CODES", () => {
  it.effect("defaults to 415,510,650 with real Twilio, and nearby first when Twilio is simulated", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* fallbacksWith(TWILIO), ["415", "510", "650"])
      assert.deepStrictEqual(yield* fallbacksWith({}), ["nearby", "415", "510", "650"])
    })
  )

  it.effect("takes nearby anywhere among area codes, as given", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* fallbacksWith({ ...TWILIO, FALLBACK_AREA_CODES: " 415, nearby ,650" }), [
        "415",
        "nearby",
        "650"
      ])
      assert.deepStrictEqual(yield* fallbacksWith({ FALLBACK_AREA_CODES: "415" }), ["415"])
    })
  )

  it.effect("refuses anything else, and repeats", () =>
    Effect.gen(function* () {
      for (const bad of ["415,911", "415,near", "nearby,415,nearby", "415,415", "Nearby"]) {
        const error = yield* Effect.flip(fallbacksWith({ FALLBACK_AREA_CODES: bad }))
        assert.include(error.message, "FALLBACK_AREA_CODES must be a comma list", bad)
      }
    })
  )
})
