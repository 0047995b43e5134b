// AppConfig as it reads the environment: FALLBACK_AREA_CODES (area codes and `nearby`, each once; its default
// follows Twilio) and the trace sampler (OpenTelemetry's variables).
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

const samplerWith = (env: Record<string, string>) =>
  loadAppConfig.pipe(
    Effect.map((config) => config.telemetry.sampler),
    Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env)))
  )

describe("OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG", () => {
  it.effect("default to OpenTelemetry's parentbased_always_on; take its sampler names and a ratio", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* samplerWith({}), { parentBased: true, ratio: 1 })
      assert.deepStrictEqual(
        yield* samplerWith({
          OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
          OTEL_TRACES_SAMPLER_ARG: "0.1"
        }),
        { parentBased: true, ratio: 0.1 }
      )
      assert.deepStrictEqual(
        yield* samplerWith({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0" }),
        { parentBased: false, ratio: 0 }
      )
      assert.deepStrictEqual(yield* samplerWith({ OTEL_TRACES_SAMPLER: "always_off" }), {
        parentBased: false,
        ratio: 0
      })
    })
  )

  it.effect("refuse an unknown sampler and a ratio outside 0..1, naming the variable", () =>
    Effect.gen(function* () {
      const unknown = yield* Effect.flip(samplerWith({ OTEL_TRACES_SAMPLER: "jaeger_remote" }))
      assert.include(unknown.message, "OTEL_TRACES_SAMPLER is invalid")
      for (const bad of ["1.5", "-0.1", "ten", "NaN"]) {
        const error = yield* Effect.flip(
          samplerWith({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: bad })
        )
        assert.include(error.message, "OTEL_TRACES_SAMPLER_ARG is invalid", bad)
      }
    })
  )
})
