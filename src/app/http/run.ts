// How HTTP handlers run Effect programs: with the services of the runtime the app was built from.
import type { Effect } from "effect"

export type Run<R> = <A, E>(
  effect: Effect.Effect<A, E, R>,
  options?: { readonly signal?: AbortSignal }
) => Promise<A>
