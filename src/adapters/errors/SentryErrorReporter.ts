// ErrorReporter on Sentry (@sentry/bun), when SENTRY_DSN is set. Events carry the business and job ids as
// tags; request data, breadcrumbs' bodies and anything that looks like a credential are dropped before sending.
import type * as SentryModule from "@sentry/bun"
import { Cause, Effect, Layer, Redacted } from "effect"
import { type ErrorContext, ErrorReporter } from "../../ports/ErrorReporter.ts"

const SECRET_KEY = /token|secret|password|authorization|api[-_]?key|cookie|dsn/i

/** Values under secret-looking keys become "[scrubbed]", at any depth. */
const scrub = (value: unknown, depth = 0): unknown => {
  if (depth > 8 || value === null || typeof value !== "object") return value
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1))
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? "[scrubbed]" : scrub(v, depth + 1)])
  )
}

// Loaded only when SENTRY_DSN is set: the SDK is large, and starts without it should not pay for it.
let Sentry: typeof SentryModule

const init = (options: { readonly dsn: Redacted.Redacted<string>; readonly environment?: string }) =>
  Effect.promise(async () => {
    Sentry = await import("@sentry/bun")
    Sentry.init({
      dsn: Redacted.value(options.dsn),
      environment: options.environment ?? "production",
      defaultIntegrations: false,
      beforeSend: (event) => {
        delete event.request
        if (event.extra) event.extra = scrub(event.extra) as NonNullable<typeof event.extra>
        if (event.contexts) event.contexts = scrub(event.contexts) as NonNullable<typeof event.contexts>
        return event
      }
    })
  })

export const layer = (options: { readonly dsn: Redacted.Redacted<string>; readonly environment?: string }) =>
  Layer.effect(
    ErrorReporter,
    Effect.acquireRelease(init(options), () => Effect.promise(() => Sentry.close(2_000))).pipe(
      Effect.as(
        ErrorReporter.of({
          report: (cause: Cause.Cause<unknown>, context: ErrorContext) =>
            Effect.sync(() => {
              const error = Cause.squash(cause)
              Sentry.withScope((scope) => {
                const { operation, businessId, jobId, ...rest } = context
                scope.setTag("operation", operation)
                if (businessId) scope.setTag("business_id", businessId)
                if (jobId) scope.setTag("job_id", jobId)
                scope.setContext(
                  "failure",
                  scrub({ ...rest, cause: Cause.pretty(cause) }) as Record<string, unknown>
                )
                Sentry.captureException(error instanceof Error ? error : new Error(String(error)))
              })
            }).pipe(
              Effect.andThen(Effect.logError(`${context.operation} failed (reported)`, Cause.pretty(cause))),
              Effect.annotateLogs({ ...context })
            )
        })
      )
    )
  )

/** Waits until queued events are sent (tests, and before exit). */
export const flush = (timeoutMillis = 2_000) => Effect.promise(() => Sentry.flush(timeoutMillis))
