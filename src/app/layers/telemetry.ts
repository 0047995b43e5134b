// Where traces and logs go, from the configuration (AppConfig's `telemetry`). Metrics need nothing here: the
// instruments (src/ports/metrics.ts) record into the process's registry, and `GET /metrics` formats it.
import { Context, Formatter, Layer, Logger, Option, Redacted, References, Tracer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import type { AppConfigShape, TelemetryConfig } from "./AppConfig.ts"

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
 * Spans exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (else none leave the process: spans
 * are still made, and logs name them). Batched every 5 s. Releasing the layer (shutdown; it is provided
 * outermost, so released last) flushes what is left, for at most 5 s: a collector that is down cannot hold
 * the process.
 */
export const tracingLayer = (config: Pick<AppConfigShape, "role" | "telemetry">) =>
  Option.match(config.telemetry.otlp, {
    onNone: () => Layer.empty,
    onSome: ({ tracesUrl, protocol, headers }) =>
      OtlpTracer.layer({
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
      }).pipe(
        Layer.provide(
          protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf
        ),
        Layer.provide(FetchHttpClient.layer)
      )
  })
