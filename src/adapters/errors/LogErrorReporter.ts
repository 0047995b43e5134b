// ErrorReporter without Sentry: a structured error log line per failure, with its context.
import { Cause, Effect, Layer } from "effect"
import { type ErrorContext, ErrorReporter } from "../../ports/ErrorReporter.ts"

export const layer = Layer.succeed(
  ErrorReporter,
  ErrorReporter.of({
    report: (cause: Cause.Cause<unknown>, context: ErrorContext) =>
      Effect.logError(`${context.operation} failed`, Cause.pretty(cause)).pipe(
        Effect.annotateLogs({ ...context })
      )
  })
)
