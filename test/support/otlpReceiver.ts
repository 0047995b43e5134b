// A local OTLP/HTTP collector for traces: `POST /v1/traces` is kept as sent (content type and bytes), and the
// http/json ones are read back as spans. A service process exports to it with
// OTEL_EXPORTER_OTLP_ENDPOINT=<url>.

export interface OtlpAttribute {
  readonly key: string
  readonly value: Record<string, unknown>
}

export interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  /** 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number
  readonly startTimeUnixNano: string
  readonly endTimeUnixNano: string
  readonly attributes: ReadonlyArray<OtlpAttribute>
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>
  readonly status: { readonly code: number; readonly message?: string }
}

export interface ReceivedSpan extends OtlpSpan {
  /** The resource it came with (service.name, ...), as plain values. */
  readonly resource: Readonly<Record<string, unknown>>
}

export interface OtlpRequest {
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

interface TracesData {
  readonly resourceSpans?: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<OtlpAttribute> }
    readonly scopeSpans?: ReadonlyArray<{ readonly spans?: ReadonlyArray<OtlpSpan> }>
  }>
}

/** An OTLP AnyValue as a plain value. */
export const plain = (value: Record<string, unknown>): unknown =>
  "stringValue" in value
    ? value.stringValue
    : "intValue" in value
      ? Number(value.intValue)
      : "doubleValue" in value
        ? value.doubleValue
        : "boolValue" in value
          ? value.boolValue
          : "arrayValue" in value
            ? ((value.arrayValue as { values?: ReadonlyArray<Record<string, unknown>> }).values ?? []).map(
                plain
              )
            : value

export const attributesOf = (attributes: ReadonlyArray<OtlpAttribute>): Record<string, unknown> =>
  Object.fromEntries(attributes.map(({ key, value }) => [key, plain(value)]))

export const startOtlpReceiver = () => {
  const requests: Array<OtlpRequest> = []
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url)
      if (request.method !== "POST" || url.pathname !== "/v1/traces")
        return new Response(null, { status: 404 })
      requests.push({
        contentType: request.headers.get("content-type") ?? "",
        headers: Object.fromEntries(request.headers),
        body: new Uint8Array(await request.arrayBuffer())
      })
      return Response.json({ partialSuccess: {} })
    }
  })
  return {
    url: `http://127.0.0.1:${server.port}`,
    requests: (): ReadonlyArray<OtlpRequest> => [...requests],
    /** Every span of the http/json requests, with its resource. */
    spans: (): Array<ReceivedSpan> =>
      requests
        .filter((r) => r.contentType.startsWith("application/json"))
        .flatMap((r) => (JSON.parse(new TextDecoder().decode(r.body)) as TracesData).resourceSpans ?? [])
        .flatMap((resourceSpan) => {
          const resource = attributesOf(resourceSpan.resource?.attributes ?? [])
          return (resourceSpan.scopeSpans ?? []).flatMap((scope) =>
            (scope.spans ?? []).map((span) => ({ ...span, resource }))
          )
        }),
    stop: () => server.stop(true)
  }
}
