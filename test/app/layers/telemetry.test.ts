// The JSON log line: the current span's ids, annotations as snake_case fields of their own, and nothing
// where there is no span. The trace sampler: which traces are exported (OTEL_TRACES_SAMPLER).
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Option, Redacted, Tracer } from "effect"
import type { TraceSampler } from "../../../src/app/layers/AppConfig.ts"
import { formatJsonLine, sampledTracer, tracingLayer } from "../../../src/app/layers/telemetry.ts"

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

/** A tracer that records the sampling decision each span was made with. */
const recording = () => {
  const decisions: Array<{ readonly name: string; readonly sampled: boolean }> = []
  const tracer: Tracer.Tracer = {
    span(options) {
      decisions.push({ name: options.name, sampled: options.sampled })
      return Tracer.nativeTracer.span(options)
    }
  }
  return { tracer, decisions }
}

const traced = (sampler: TraceSampler, program: Effect.Effect<unknown>) => {
  const { tracer, decisions } = recording()
  return program.pipe(Effect.withTracer(sampledTracer(tracer, sampler)), Effect.as(decisions))
}

/** One trace: a root span with a child, the child with a child of its own. */
const oneTrace = Effect.void.pipe(
  Effect.withSpan("grandchild"),
  Effect.withSpan("child"),
  Effect.withSpan("root", { root: true })
)

describe("the trace sampler", () => {
  it.effect("exports a trace whole or not at all: the root decides, its spans follow", () =>
    Effect.gen(function* () {
      const always = yield* traced({ parentBased: true, ratio: 1 }, oneTrace)
      assert.deepStrictEqual(
        always.map((d) => d.sampled),
        [true, true, true]
      )
      const never = yield* traced({ parentBased: true, ratio: 0 }, oneTrace)
      assert.deepStrictEqual(
        never.map((d) => d.sampled),
        [false, false, false]
      )
      const half = yield* traced({ parentBased: true, ratio: 0.5 }, Effect.repeat(oneTrace, { times: 1_999 }))
      const roots = half.filter((d) => d.name === "root")
      assert.strictEqual(roots.length, 2_000)
      const kept = roots.filter((d) => d.sampled).length
      // 2,000 draws at 0.5: outside 850..1,150 once in about 10^11 runs.
      assert.isAbove(kept, 850)
      assert.isBelow(kept, 1_150)
      // Every trace is whole: its three spans share the root's decision.
      for (let at = 0; at < half.length; at += 3)
        assert.deepStrictEqual(
          half.slice(at, at + 3).map((d) => d.sampled),
          [half[at]?.sampled, half[at]?.sampled, half[at]?.sampled]
        )
    })
  )

  it.effect(
    "follows a caller's traceparent when parent-based, decides anew when not; never samples an unsampled span",
    () =>
      Effect.gen(function* () {
        const callerSampled = Tracer.externalSpan({
          traceId: "a".repeat(32),
          spanId: "b".repeat(16),
          sampled: true
        })
        const callerNot = Tracer.externalSpan({
          traceId: "c".repeat(32),
          spanId: "d".repeat(16),
          sampled: false
        })
        const under = (parent: Tracer.ExternalSpan) => Effect.void.pipe(Effect.withSpan("server", { parent }))
        assert.isTrue((yield* traced({ parentBased: true, ratio: 0 }, under(callerSampled)))[0]?.sampled)
        assert.isFalse((yield* traced({ parentBased: true, ratio: 1 }, under(callerNot)))[0]?.sampled)
        assert.isFalse((yield* traced({ parentBased: false, ratio: 0 }, under(callerSampled)))[0]?.sampled)
        const probe = Effect.void.pipe(Effect.withSpan("GET /health", { root: true, sampled: false }))
        assert.isFalse((yield* traced({ parentBased: true, ratio: 1 }, probe))[0]?.sampled)
      })
  )
})

describe("tracingLayer", () => {
  const configWith = (sampler: TraceSampler) => ({
    role: "web" as const,
    telemetry: {
      serviceName: "numbers-test",
      instanceId: "test:1",
      // Nothing listens there; nothing is sent either: the spans below end unsampled, or are never flushed.
      otlp: Option.some({
        tracesUrl: "http://127.0.0.1:9/v1/traces",
        protocol: "http/json" as const,
        headers: Redacted.make({})
      }),
      sampler,
      logFormat: "json" as const,
      logLevel: "Warn" as const
    }
  })
  const rootSpanUnder = (sampler: TraceSampler) =>
    Effect.currentSpan.pipe(
      Effect.withSpan("root", { root: true }),
      Effect.map((span) => span.sampled),
      Effect.provide(tracingLayer(configWith(sampler)))
    )

  it.live("makes its spans with the configured sampler", () =>
    Effect.gen(function* () {
      assert.isFalse(yield* rootSpanUnder({ parentBased: true, ratio: 0 }))
      assert.isTrue(yield* rootSpanUnder({ parentBased: true, ratio: 1 }).pipe(Effect.timeout("20 seconds")))
    })
  )
})
