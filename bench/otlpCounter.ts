// The tracing benchmark's collector: a local OTLP/HTTP receiver (`POST /v1/traces`) that keeps nothing. It
// counts the export requests, their bytes and the spans in them, without decoding them (http/protobuf: the
// message is walked down to TracesData.resource_spans.scope_spans.spans; http/json: a span is the only object
// with an `endTimeUnixNano`), and answers 200 as a collector does.
// test/support/otlpReceiver.ts keeps every body: over a benchmark's tens of thousands of traced requests that
// would grow the benchmark's own process by hundreds of MB while it measures.

export interface OtlpCounts {
  readonly requests: number
  readonly bytes: number
  readonly spans: number
}

/** Calls `each` with the bounds of every length-delimited field numbered `field` in bytes[start, end). */
const fieldsOf = (
  bytes: Uint8Array,
  start: number,
  end: number,
  field: number,
  each: (start: number, end: number) => void
) => {
  let at = start
  const varint = () => {
    let value = 0
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++]
      if (byte === undefined || at > end) throw new Error("truncated protobuf message")
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return value
    }
  }
  while (at < end) {
    const key = varint()
    const wireType = key % 8
    if (wireType === 0) varint()
    else if (wireType === 1) at += 8
    else if (wireType === 5) at += 4
    else if (wireType === 2) {
      const length = varint()
      if (Math.floor(key / 8) === field) each(at, at + length)
      at += length
    } else throw new Error(`unexpected protobuf wire type ${wireType}`)
  }
  if (at !== end) throw new Error("truncated protobuf message")
}

/** The spans in an OTLP ExportTraceServiceRequest encoded as protobuf. */
const protobufSpans = (body: Uint8Array): number => {
  let spans = 0
  fieldsOf(body, 0, body.length, 1, (resourceStart, resourceEnd) =>
    fieldsOf(body, resourceStart, resourceEnd, 2, (scopeStart, scopeEnd) =>
      fieldsOf(body, scopeStart, scopeEnd, 2, () => {
        spans++
      })
    )
  )
  return spans
}

/** The spans in an OTLP ExportTraceServiceRequest encoded as JSON. */
const jsonSpans = (body: Uint8Array): number =>
  new TextDecoder().decode(body).split('"endTimeUnixNano"').length - 1

/** The spans in an export request, by its content type. */
export const spansIn = (contentType: string, body: Uint8Array): number =>
  contentType.startsWith("application/x-protobuf")
    ? protobufSpans(body)
    : contentType.startsWith("application/json")
      ? jsonSpans(body)
      : 0

export const startOtlpCounter = () => {
  let counts: OtlpCounts = { requests: 0, bytes: 0, spans: 0 }
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      if (request.method !== "POST" || new URL(request.url).pathname !== "/v1/traces")
        return new Response(null, { status: 404 })
      const body = new Uint8Array(await request.arrayBuffer())
      counts = {
        requests: counts.requests + 1,
        bytes: counts.bytes + body.length,
        spans: counts.spans + spansIn(request.headers.get("content-type") ?? "", body)
      }
      return new Response(null) // 200 and an empty ExportTraceServiceResponse: everything accepted
    }
  })
  return {
    /** For OTEL_EXPORTER_OTLP_ENDPOINT: spans go to `<url>/v1/traces`. */
    url: `http://127.0.0.1:${server.port}`,
    counts: (): OtlpCounts => counts,
    stop: () => server.stop(true)
  }
}

/** What was exported between two readings of the counter. */
export const exportedSince = (before: OtlpCounts, after: OtlpCounts): OtlpCounts => ({
  requests: after.requests - before.requests,
  bytes: after.bytes - before.bytes,
  spans: after.spans - before.spans
})
