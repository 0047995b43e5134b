// The JSON log line: the current span's ids, annotations as snake_case fields of their own, and nothing
// where there is no span.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { formatJsonLine } from "../../../src/app/layers/telemetry.ts"

const linesOf = <A, E>(program: Effect.Effect<A, E>) => {
  const lines: Array<Record<string, unknown>> = []
  const capture = Logger.make((options) => {
    lines.push(JSON.parse(formatJsonLine.log(options)))
  })
  return program.pipe(Effect.provide(Logger.layer([capture])), Effect.as(lines))
}

describe("the JSON log line", () => {
  it.effect("names the current span and the business and job, as snake_case fields", () =>
    Effect.gen(function* () {
      const [inside, nested] = yield* linesOf(
        Effect.gen(function* () {
          const span = yield* Effect.currentSpan
          yield* Effect.logInfo("assigned").pipe(Effect.annotateLogs({ businessId: "b-1", jobId: "j-1" }))
          yield* Effect.logWarning("in a child span").pipe(Effect.withSpan("elsewhere"), Effect.asVoid)
          return span
        }).pipe(Effect.withSpan("AssignNumber"), Effect.andThen(Effect.logInfo("no span")))
      )
      assert.deepInclude(inside, { level: "INFO", message: "assigned", business_id: "b-1", job_id: "j-1" })
      assert.match(String(inside?.trace_id), /^[0-9a-f]{32}$/)
      assert.match(String(inside?.span_id), /^[0-9a-f]{16}$/)
      assert.strictEqual(nested?.trace_id, inside?.trace_id)
      assert.notStrictEqual(nested?.span_id, inside?.span_id)
    })
  )

  it.effect("has no trace fields where there is no span", () =>
    Effect.gen(function* () {
      const [line] = yield* linesOf(Effect.logInfo("plain"))
      assert.strictEqual(line?.message, "plain")
      assert.notProperty(line, "trace_id")
      assert.notProperty(line, "span_id")
    })
  )
})
