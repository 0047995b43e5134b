// Port: where failures that people must look at go (Sentry when configured, logs otherwise).
import { type Cause, Context, type Effect } from "effect"

export interface ErrorContext {
  readonly businessId?: string
  readonly jobId?: string
  readonly operation: string
  readonly [key: string]: string | undefined
}

export interface ErrorReporterShape {
  readonly report: (cause: Cause.Cause<unknown>, context: ErrorContext) => Effect.Effect<void>
}

export class ErrorReporter extends Context.Service<ErrorReporter, ErrorReporterShape>()(
  "numbers/ports/ErrorReporter"
) {}
