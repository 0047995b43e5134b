// In-memory ErrorReporter: records each report (and logs it, so sandbox mode shows failures).
import { Cause, Context, Effect, Layer, Ref } from "effect"
import { type ErrorContext, ErrorReporter } from "../../ports/ErrorReporter.ts"

export interface Report {
  readonly cause: Cause.Cause<unknown>
  readonly context: ErrorContext
}

export class MemoryErrorReporterControl extends Context.Service<
  MemoryErrorReporterControl,
  { readonly reports: Effect.Effect<ReadonlyArray<Report>> }
>()("numbers/adapters/memory/MemoryErrorReporterControl") {}

export const layer = Layer.effectContext(
  Effect.gen(function* () {
    const reports = yield* Ref.make<ReadonlyArray<Report>>([])
    const report = (cause: Cause.Cause<unknown>, context: ErrorContext) =>
      Ref.update(reports, (all) => [...all, { cause, context }]).pipe(
        Effect.andThen(Effect.logWarning(`reported: ${context.operation}`, Cause.pretty(cause))),
        Effect.annotateLogs({ ...context })
      )
    return Context.make(ErrorReporter, ErrorReporter.of({ report })).pipe(
      Context.add(MemoryErrorReporterControl, MemoryErrorReporterControl.of({ reports: Ref.get(reports) }))
    )
  })
)
