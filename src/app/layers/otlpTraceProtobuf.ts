// Spans in OTLP/protobuf, written into one growing buffer kept from batch to batch. Effect 4.1's encoder
// (OtlpSerialization.layerProtobuf) makes a Uint8Array for every field, a BigInt for every integer, and copies each
// level of nesting again: 9.0 ms for a batch of 1,000 spans like the read route's, against 0.46 ms here
// (docs/BENCHMARKS.md, section 11). This writes the same bytes, field for field
// (test/app/layers/otlpTraceProtobuf.test.ts compares the two); metrics and logs, which the service does not
// export over OTLP, stay with Effect's encoder.
import { Effect, Layer } from "effect"
import { HttpBody } from "effect/http"
import type { OtlpResource, OtlpTracer } from "effect/observability"
import { OtlpSerialization } from "effect/observability"

type AnyValue = OtlpResource.AnyValue
type KeyValue = OtlpResource.KeyValue
type TraceData = OtlpTracer.TraceData
type ResourceSpans = TraceData["resourceSpans"][number]
type ScopeSpan = ResourceSpans["scopeSpans"][number]
type Span = ScopeSpan["spans"][number]
type SpanEvent = Span["events"][number]
type SpanLink = Span["links"][number] & { readonly traceState?: string; readonly flags?: number }

const VARINT = 0
const FIXED64 = 1
const LENGTH_DELIMITED = 2
const FIXED32 = 5

/** A hex digit's value, by char code; -1 for anything else. */
const HEX = new Int8Array(128).fill(-1)
for (let digit = 0; digit < 16; digit++) {
  HEX["0123456789abcdef".charCodeAt(digit)] = digit
  HEX["0123456789ABCDEF".charCodeAt(digit)] = digit
}

const varintSize = (value: number) => {
  let size = 1
  while (value >= 128) {
    value = Math.floor(value / 128)
    size++
  }
  return size
}

const encoder = new TextEncoder()
/** Up to this length, ASCII is written by hand. */
const SHORT_STRING = 48

class Writer {
  bytes = new Uint8Array(64 * 1024)
  view = new DataView(this.bytes.buffer)
  at = 0

  ensure(more: number) {
    if (this.at + more <= this.bytes.length) return
    let length = this.bytes.length * 2
    while (this.at + more > length) length *= 2
    const bytes = new Uint8Array(length)
    bytes.set(this.bytes.subarray(0, this.at))
    this.bytes = bytes
    this.view = new DataView(bytes.buffer)
  }

  /** A non-negative safe integer as a varint; anything else as Effect's encoder writes it (64-bit two's complement). */
  varint(value: number | string | bigint) {
    if (typeof value !== "number" || value < 0 || !Number.isSafeInteger(value)) return this.bigVarint(value)
    this.ensure(10)
    while (value >= 128) {
      this.bytes[this.at++] = (value % 128) | 0x80
      value = Math.floor(value / 128)
    }
    this.bytes[this.at++] = value
  }

  bigVarint(value: number | string | bigint) {
    let n = BigInt(value)
    if (n < 0n) n = BigInt.asUintN(64, n)
    this.ensure(20)
    while (n > 127n) {
      this.bytes[this.at++] = Number(n & 127n) | 0x80
      n >>= 7n
    }
    this.bytes[this.at++] = Number(n)
  }

  tag(field: number, wireType: number) {
    this.varint((field << 3) | wireType)
  }

  /** Starts a length-delimited field; `end` writes its length in front of what was written since. */
  begin(field: number) {
    this.tag(field, LENGTH_DELIMITED)
    this.ensure(1)
    return this.at++
  }

  end(start: number) {
    const length = this.at - start - 1
    if (length < 128) {
      this.bytes[start] = length
      return
    }
    // The length needs more than the one byte kept for it: move the content up.
    const extra = varintSize(length) - 1
    this.ensure(extra)
    this.bytes.copyWithin(start + 1 + extra, start + 1, this.at)
    this.at = start
    this.varint(length)
    this.at += length
  }

  /** `value` as a length-delimited field, its content written by `write`. */
  message<T>(field: number, value: T, write: (w: Writer, value: T) => void) {
    const start = this.begin(field)
    write(this, value)
    this.end(start)
  }

  /** Each of `values` as a field `field` of its own. */
  messages<T>(field: number, values: Iterable<T>, write: (w: Writer, value: T) => void) {
    for (const value of values) this.message(field, value, write)
  }

  string(field: number, value: string) {
    const start = this.begin(field)
    const { length } = value
    this.ensure(length * 3)
    // A short string is written by hand while it is ASCII (a call into TextEncoder costs more than a short loop);
    // a long one, and the rest of a short one from its first other character, by TextEncoder, which writes a lone
    // surrogate as U+FFFD just as Effect's encoder does.
    let index = 0
    if (length <= SHORT_STRING)
      for (; index < length; index++) {
        const code = value.charCodeAt(index)
        if (code >= 0x80) break
        this.bytes[this.at++] = code
      }
    if (index < length)
      this.at += encoder.encodeInto(
        index === 0 ? value : value.slice(index),
        this.bytes.subarray(this.at)
      ).written
    this.end(start)
  }

  optionalString(field: number, value: string | undefined) {
    if (value !== undefined && value !== "") this.string(field, value)
  }

  bytesField(field: number, value: Uint8Array) {
    const start = this.begin(field)
    this.ensure(value.length)
    this.bytes.set(value, this.at)
    this.at += value.length
    this.end(start)
  }

  /** A trace or span id, given in hex, as bytes; a pair that is not hex is read as `parseInt` reads it. */
  hex(field: number, hex: string) {
    const start = this.begin(field)
    this.ensure(hex.length >> 1)
    for (let i = 0; i + 1 < hex.length; i += 2) {
      const high = HEX[hex.charCodeAt(i)] ?? -1
      const low = HEX[hex.charCodeAt(i + 1)] ?? -1
      this.bytes[this.at++] =
        high >= 0 && low >= 0 ? (high << 4) | low : Number.parseInt(hex.slice(i, i + 2), 16)
    }
    this.end(start)
  }

  fixed64(field: number, nanos: string) {
    this.tag(field, FIXED64)
    this.ensure(8)
    this.view.setBigUint64(this.at, BigInt(nanos), true)
    this.at += 8
  }

  fixed32(field: number, value: number) {
    this.tag(field, FIXED32)
    this.ensure(4)
    this.view.setUint32(this.at, value, true)
    this.at += 4
  }

  double(field: number, value: number) {
    this.tag(field, FIXED64)
    this.ensure(8)
    this.view.setFloat64(this.at, value, true)
    this.at += 8
  }

  varintField(field: number, value: number | string | bigint) {
    this.tag(field, VARINT)
    this.varint(value)
  }
}

const writer = new Writer()

const anyValue = (w: Writer, value: AnyValue) => {
  if (value.stringValue !== undefined && value.stringValue !== null) w.string(1, value.stringValue)
  else if (value.boolValue !== undefined && value.boolValue !== null)
    w.varintField(2, value.boolValue ? 1 : 0)
  else if (value.intValue !== undefined && value.intValue !== null) w.varintField(3, value.intValue)
  else if (value.doubleValue !== undefined && value.doubleValue !== null) w.double(4, value.doubleValue)
  else if (value.arrayValue !== undefined) w.message(5, value.arrayValue.values, arrayValue)
  else if (value.kvlistValue !== undefined) w.message(6, value.kvlistValue.values, keyValueList)
  else if (value.bytesValue !== undefined) w.bytesField(7, value.bytesValue)
}

const arrayValue = (w: Writer, values: ReadonlyArray<AnyValue>) => w.messages(1, values, anyValue)

const keyValue = (w: Writer, kv: KeyValue) => {
  w.string(1, kv.key)
  w.message(2, kv.value, anyValue)
}

const keyValueList = (w: Writer, values: ReadonlyArray<KeyValue>) => w.messages(1, values, keyValue)

const event = (w: Writer, value: SpanEvent) => {
  w.fixed64(1, value.timeUnixNano)
  w.string(2, value.name)
  w.messages(3, value.attributes, keyValue)
  if (value.droppedAttributesCount > 0) w.varintField(4, value.droppedAttributesCount)
}

const link = (w: Writer, value: SpanLink) => {
  w.hex(1, value.traceId)
  w.hex(2, value.spanId)
  w.optionalString(3, value.traceState)
  w.messages(4, value.attributes, keyValue)
  if (value.droppedAttributesCount > 0) w.varintField(5, value.droppedAttributesCount)
  if (value.flags !== undefined) w.fixed32(6, value.flags)
}

const status = (w: Writer, value: Span["status"]) => {
  w.optionalString(2, value.message)
  w.varintField(3, value.code)
}

const span = (w: Writer, value: Span & { readonly traceState?: string; readonly flags?: number }) => {
  w.hex(1, value.traceId)
  w.hex(2, value.spanId)
  w.optionalString(3, value.traceState)
  if (value.parentSpanId !== undefined) w.hex(4, value.parentSpanId)
  w.string(5, value.name)
  w.varintField(6, value.kind)
  w.fixed64(7, value.startTimeUnixNano)
  w.fixed64(8, value.endTimeUnixNano)
  w.messages(9, value.attributes, keyValue)
  if (value.droppedAttributesCount > 0) w.varintField(10, value.droppedAttributesCount)
  w.messages(11, value.events, event)
  if (value.droppedEventsCount > 0) w.varintField(12, value.droppedEventsCount)
  w.messages(13, value.links, link)
  if (value.droppedLinksCount > 0) w.varintField(14, value.droppedLinksCount)
  w.message(15, value.status, status)
  if (value.flags !== undefined) w.fixed32(16, value.flags)
}

type Scope = ScopeSpan["scope"] & {
  readonly attributes?: ReadonlyArray<KeyValue>
  readonly droppedAttributesCount?: number
}

const scope = (w: Writer, value: Scope) => {
  w.string(1, value.name)
  w.optionalString(2, value.version)
  if (value.attributes) w.messages(3, value.attributes, keyValue)
  if (value.droppedAttributesCount) w.varintField(4, value.droppedAttributesCount)
}

const scopeSpans = (w: Writer, value: ScopeSpan) => {
  w.message(1, value.scope, scope)
  w.messages(2, value.spans, span)
  w.optionalString(3, value.schemaUrl)
}

const resource = (w: Writer, value: ResourceSpans["resource"]) => {
  w.messages(1, value.attributes, keyValue)
  if (value.droppedAttributesCount > 0) w.varintField(2, value.droppedAttributesCount)
}

const resourceSpans = (w: Writer, value: ResourceSpans) => {
  w.message(1, value.resource, resource)
  w.messages(2, value.scopeSpans, scopeSpans)
  w.optionalString(3, value.schemaUrl)
}

/** `data` as an OTLP/protobuf `ExportTraceServiceRequest` (the same fields as `TracesData`). */
export const encodeTraces = (data: TraceData): Uint8Array => {
  // One writer for every batch (encoding is synchronous): its buffer grows to the largest batch once.
  const w = writer
  w.at = 0
  w.messages(1, data.resourceSpans, resourceSpans)
  return w.bytes.slice(0, w.at)
}

/** OTLP/protobuf bodies: traces by `encodeTraces`, metrics and logs by Effect's encoder. */
export const layer = Layer.effect(
  OtlpSerialization.OtlpSerialization,
  Effect.gen(function* () {
    const effects = yield* OtlpSerialization.OtlpSerialization
    return OtlpSerialization.OtlpSerialization.of({
      ...effects,
      traces: (data) => HttpBody.uint8Array(encodeTraces(data), "application/x-protobuf")
    })
  })
).pipe(Layer.provide(OtlpSerialization.layerProtobuf))
