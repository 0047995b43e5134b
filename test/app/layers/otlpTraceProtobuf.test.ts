// The service's OTLP/protobuf trace encoder must write exactly the bytes Effect's own encoder writes for the same
// spans: any trace (generated), the odd strings and numbers a span can carry, and batches large enough that
// lengths take several bytes.
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, Schema } from "effect"
import type { HttpBody } from "effect/http"
import { OtlpSerialization, type OtlpTracer } from "effect/observability"
import { encodeTraces, layer } from "../../../src/app/layers/otlpTraceProtobuf.ts"

const serializationService = Effect.gen(function* () {
  return yield* OtlpSerialization.OtlpSerialization
})

const bodyOf = (body: HttpBody.HttpBody) => {
  assert.strictEqual(body._tag, "Uint8Array")
  return (body as HttpBody.Uint8Array).body
}

const tracesWith =
  (serialization: Layer.Layer<OtlpSerialization.OtlpSerialization>) => (data: OtlpTracer.TraceData) =>
    Effect.map(serializationService, (s) => bodyOf(s.traces(data))).pipe(Effect.provide(serialization))
const effects = tracesWith(OtlpSerialization.layerProtobuf)
const ours = tracesWith(layer)

const sameBytes = (data: OtlpTracer.TraceData) =>
  Effect.gen(function* () {
    const expected = yield* effects(data)
    const actual = encodeTraces(data)
    assert.strictEqual(Buffer.from(actual).toString("hex"), Buffer.from(expected).toString("hex"))
    return actual
  })

const TraceId = Schema.String.check(Schema.isPattern(/^[0-9a-f]{32}$/))
const SpanId = Schema.String.check(Schema.isPattern(/^[0-9a-fA-F]{16}$/))
const Nanos = Schema.String.check(Schema.isPattern(/^(0|[1-9][0-9]{0,18})$/))
const Count = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 ** 31 }))
const Flags = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 ** 32 - 1 }))
const IntText = Schema.String.check(Schema.isPattern(/^-?[0-9]{1,18}$/))

const Scalar = Schema.Union([
  Schema.Struct({ stringValue: Schema.String }),
  Schema.Struct({ boolValue: Schema.Boolean }),
  Schema.Struct({ intValue: Schema.Union([Schema.Int, IntText]) }),
  Schema.Struct({ doubleValue: Schema.Number }),
  Schema.Struct({ bytesValue: Schema.Uint8Array })
])
const ScalarKeyValue = Schema.Struct({ key: Schema.String, value: Scalar })
const Value = Schema.Union([
  Scalar,
  Schema.Struct({ arrayValue: Schema.Struct({ values: Schema.Array(Scalar) }) }),
  Schema.Struct({ kvlistValue: Schema.Struct({ values: Schema.Array(ScalarKeyValue) }) })
])
const Attributes = Schema.Array(Schema.Struct({ key: Schema.String, value: Value }))
const Span = Schema.Struct({
  traceId: TraceId,
  spanId: SpanId,
  traceState: Schema.optional(Schema.String),
  parentSpanId: Schema.UndefinedOr(SpanId),
  name: Schema.String,
  kind: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5 })),
  startTimeUnixNano: Nanos,
  endTimeUnixNano: Nanos,
  attributes: Attributes,
  droppedAttributesCount: Count,
  events: Schema.Array(
    Schema.Struct({
      timeUnixNano: Nanos,
      name: Schema.String,
      attributes: Attributes,
      droppedAttributesCount: Count
    })
  ),
  droppedEventsCount: Count,
  links: Schema.Array(
    Schema.Struct({
      traceId: TraceId,
      spanId: SpanId,
      traceState: Schema.optional(Schema.String),
      attributes: Attributes,
      droppedAttributesCount: Count,
      flags: Schema.optional(Flags)
    })
  ),
  droppedLinksCount: Count,
  status: Schema.Struct({
    code: Schema.Literals([0, 1, 2]),
    message: Schema.optional(Schema.String)
  }),
  flags: Schema.optional(Flags)
})
const TraceData = Schema.Struct({
  resourceSpans: Schema.Array(
    Schema.Struct({
      resource: Schema.Struct({ attributes: Attributes, droppedAttributesCount: Count }),
      scopeSpans: Schema.Array(
        Schema.Struct({
          scope: Schema.Struct({ name: Schema.String, version: Schema.optional(Schema.String) }),
          spans: Schema.Array(Span),
          schemaUrl: Schema.optional(Schema.String)
        })
      ),
      schemaUrl: Schema.optional(Schema.String)
    })
  )
})

const attribute = (
  key: string,
  value: OtlpTracer.TraceData["resourceSpans"][number]["resource"]["attributes"][number]["value"]
) => ({ key, value })

/** A span as OtlpTracer makes one, the read route's statement text among its attributes. */
const realisticSpan = (index: number, text: string) => ({
  traceId: "0af7651916cd43dd8448eb211c80319c",
  spanId: index.toString(16).padStart(16, "0"),
  parentSpanId: index % 3 === 0 ? undefined : "b7ad6b7169203331",
  name: `Repository.findBusiness ${index}`,
  kind: 1 + (index % 5),
  startTimeUnixNano: `${1_764_500_000_000_000_000n + BigInt(index)}`,
  endTimeUnixNano: `${1_764_500_000_000_250_000n + BigInt(index)}`,
  attributes: [
    attribute("db.query.text", { stringValue: text }),
    attribute("db.system.name", { stringValue: "postgresql" }),
    attribute("http.response.status_code", { intValue: 200 }),
    attribute("numbers.ok", { boolValue: true })
  ],
  droppedAttributesCount: 0,
  events: [
    {
      timeUnixNano: "1764500000000100000",
      name: "owner event 1 stored",
      attributes: [],
      droppedAttributesCount: 0
    }
  ],
  droppedEventsCount: 0,
  links: [],
  droppedLinksCount: 0,
  status: {
    code: index % 2 === 0 ? (1 as const) : (2 as const),
    ...(index % 2 === 0 ? {} : { message: "Twilio said no" })
  }
})

const batch = (spans: number, text: string): OtlpTracer.TraceData => ({
  resourceSpans: [
    {
      resource: {
        attributes: [attribute("service.name", { stringValue: "numbers" })],
        droppedAttributesCount: 0
      },
      scopeSpans: [
        { scope: { name: "numbers" }, spans: Array.from({ length: spans }, (_, i) => realisticSpan(i, text)) }
      ]
    }
  ]
})

describe("OTLP/protobuf traces", () => {
  it.effect.prop("writes the bytes Effect's encoder writes, for any trace", [TraceData], ([data]) =>
    Effect.asVoid(sameBytes(data as unknown as OtlpTracer.TraceData))
  )

  it.effect("writes Unicode, lone surrogates, NUL and odd numbers as Effect's encoder does", () =>
    Effect.gen(function* () {
      const strings = [
        "",
        "\u0000",
        "é",
        "日本語",
        "🦊 fox",
        "\ud800",
        "a\udc00b",
        `${"x".repeat(127)}é`,
        "\u2028",
        // Around the length up to which ASCII is written by hand (48): all ASCII, and turning non-ASCII at the end.
        ...[47, 48, 49].flatMap((n) => ["y".repeat(n), `${"y".repeat(n - 1)}é`, `${"y".repeat(n - 2)}🦊`]),
        `${"z".repeat(30)}\ud83e${"z".repeat(30)}`
      ]
      const numbers = [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        -1,
        -(2 ** 31),
        2 ** 53 + 2,
        "9223372036854775807",
        "-42"
      ]
      const data = batch(1, "SELECT 1")
      const span = data.resourceSpans[0]?.scopeSpans[0]?.spans[0]
      assert.isDefined(span)
      if (!span) return
      span.attributes.push(
        ...strings.map((text, i) => attribute(text, { stringValue: `${text}${i}` })),
        ...numbers.map((n, i) => attribute(`n${i}`, { intValue: n as number })),
        ...[0.5, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e300].map((d, i) =>
          attribute(`d${i}`, { doubleValue: d })
        ),
        attribute("bytes", { bytesValue: new Uint8Array([0, 255, 128]) }),
        attribute("list", { arrayValue: { values: [{ stringValue: "a" }, { intValue: 3 }, {}] } }),
        attribute("map", { kvlistValue: { values: [attribute("k", { boolValue: false })] } })
      )
      // Ids that are not hex, or of odd length, are read as Effect's encoder reads them (`parseInt` by pairs).
      span.links.push({
        traceId: "zz0102030405060708090a0b0c0d0e0f",
        spanId: "abc",
        attributes: [],
        droppedAttributesCount: 0
      })
      yield* sameBytes(data)
    })
  )

  it.effect(
    "writes a batch of 1,000 spans with long statements (lengths of two and three bytes) as Effect does",
    () =>
      Effect.gen(function* () {
        const bytes = yield* sameBytes(
          batch(1_000, `SELECT ${"b.column, ".repeat(60)}1 FROM businesses b WHERE b.id = $1`)
        )
        // The batch's own length and each span's took more than one byte: the content was moved, not overwritten.
        assert.isAbove(bytes.length, 2 ** 14 * 10)
        yield* sameBytes(batch(3, "é".repeat(20_000)))
      })
  )

  it.effect("serves traces through the layer, and leaves metrics to Effect's encoder", () =>
    Effect.gen(function* () {
      const data = batch(5, "SELECT 1")
      const [reference, viaLayer] = yield* Effect.all([effects(data), ours(data)])
      assert.deepStrictEqual(viaLayer, reference)
      const metrics = { resourceMetrics: [] }
      const bodies = yield* Effect.all(
        [OtlpSerialization.layerProtobuf, layer].map((serialization) =>
          Effect.map(serializationService, (s) => bodyOf(s.metrics(metrics))).pipe(
            Effect.provide(serialization)
          )
        )
      )
      assert.deepStrictEqual(bodies[1], bodies[0])
    })
  )
})
