// In-memory Readiness: ready until a test says otherwise.
import { Context, Effect, Layer, Ref } from "effect"
import { Readiness } from "../../ports/Readiness.ts"

export class MemoryReadinessControl extends Context.Service<
  MemoryReadinessControl,
  { readonly setReady: (ready: boolean) => Effect.Effect<void> }
>()("numbers/adapters/memory/MemoryReadinessControl") {}

export const layer = Layer.effectContext(
  Effect.map(Ref.make(true), (ready) =>
    Context.make(Readiness, Readiness.of({ check: Ref.get(ready) })).pipe(
      Context.add(
        MemoryReadinessControl,
        MemoryReadinessControl.of({ setReady: (next) => Ref.set(ready, next) })
      )
    )
  )
)
