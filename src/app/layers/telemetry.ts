// Where traces and logs go, from the configuration (AppConfig's `telemetry`). Metrics need nothing here: the
// instruments (src/ports/metrics.ts) record into the process's registry, and `GET /metrics` formats it.
import { Context, Effect, Formatter, Layer, Logger, Option, Redacted, References, Tracer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpExporter, OtlpSerialization, OtlpTracer } from "effect/observability"
import type { AppConfigShape, TelemetryConfig, TraceSampler } from "./AppConfig.ts"
import * as OtlpTraceProtobuf from "./otlpTraceProtobuf.ts"

/** `businessId` → `business_id`: log fields are snake_case, as the collectors' queries expect. */
const snakeCase = (key: string) => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)

/**
 * One JSON object a line: `timestamp`, `level`, `message`; `trace_id` and `span_id` of the current span, when
 * there is one; then the log annotations as fields of their own (`business_id`, `job_id`, `call_sid`, a
 * provider's request id ...); a failure's `cause`; the fiber.
 */
export const formatJsonLine = Logger.make((options) => {
  const structured = Logger.formatStructured.log(options)
  const span = Option.getOrUndefined(Context.getOption(options.fiber.context, Tracer.ParentSpan))
  const line: Record<string, unknown> = {
    timestamp: structured.timestamp,
    level: structured.level,
    message: structured.message,
    ...(span ? { trace_id: span.traceId, span_id: span.spanId } : {})
  }
  for (const [key, value] of Object.entries(structured.annotations)) {
    const field = snakeCase(key)
    if (!(field in line)) line[field] = value
  }
  if (structured.cause !== undefined) line.cause = structured.cause
  if (Object.keys(structured.spans).length > 0) line.log_spans = structured.spans
  line.fiber_id = structured.fiberId
  return Formatter.formatJson(line)
})

export const jsonLogger = Logger.withConsoleLog(formatJsonLine)

/**
 * The loggers and the minimum level. Log lines are also events on the current span (`Logger.tracerLogger`), so
 * an exported trace shows what was logged in it.
 */
export const loggerLayer = (telemetry: TelemetryConfig) =>
  Layer.merge(
    Logger.layer([telemetry.logFormat === "json" ? jsonLogger : Logger.consolePretty(), Logger.tracerLogger]),
    Layer.succeed(References.MinimumLogLevel, telemetry.logLevel)
  )

/**
 * `tracer`, deciding at each trace's first span whether the trace is exported (`sampled`), as `sampler` says:
 * the spans of a trace not sampled are still made (logs name them) but never exported, which is where tracing's
 * cost is (docs/BENCHMARKS.md, section 6). A span inside a trace follows the trace; a caller's traceparent is
 * followed when the sampler is parent-based. A span already unsampled (a probe's, or under an unsampled
 * caller) stays so. Traces are picked at random with the ratio, not by trace id: the decision is made once, at
 * the root, and travels with the trace (its children and the traceparent we send), as a trace-id ratio would.
 */
export const sampledTracer = (tracer: Tracer.Tracer, sampler: TraceSampler): Tracer.Tracer => ({
  ...tracer,
  span(options) {
    const parent = Option.getOrUndefined(options.parent)
    const follows = parent !== undefined && (parent._tag === "Span" || sampler.parentBased)
    const sampled = follows
      ? options.sampled && parent.sampled
      : options.sampled && (sampler.ratio >= 1 || (sampler.ratio > 0 && Math.random() < sampler.ratio))
    return tracer.span.call(this, { ...options, sampled })
  }
})

/**
 * Spans exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (else none leave the process: spans
 * are still made, and logs name them). Batched every 5 s; http/protobuf written by our encoder
 * (otlpTraceProtobuf.ts). Releasing the layer (shutdown; it is provided outermost, so released last) flushes
 * what is left, for at most 5 s: a collector that is down cannot hold the process.
 */
export const tracingLayer = (config: Pick<AppConfigShape, "role" | "telemetry">) =>
  Option.match(config.telemetry.otlp, {
    onNone: () => Layer.empty,
    onSome: ({ tracesUrl, protocol, headers }) =>
      Layer.effect(
        Tracer.Tracer,
        Effect.map(
          OtlpTracer.make({
            url: tracesUrl,
            headers: Redacted.value(headers),
            resource: {
              serviceName: config.telemetry.serviceName,
              attributes: {
                "numbers.role": config.role,
                "service.instance.id": config.telemetry.instanceId
              }
            },
            exportInterval: "5 seconds",
            shutdownTimeout: "5 seconds"
          }),
          (tracer) => sampledTracer(tracer, config.telemetry.sampler)
        )
      ).pipe(
        // As OtlpTracer.layer does: the exporter flushes what is left when the layer is released.
        Layer.provideMerge(OtlpExporter.layerFlusher),
        Layer.provide(protocol === "http/json" ? OtlpSerialization.layerJson : OtlpTraceProtobuf.layer),
        Layer.provide(FetchHttpClient.layer)
      )
  })
