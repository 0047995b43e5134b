// Port: whether this instance can serve (its database answers and is migrated): what `/ready` reports to a
// load balancer.
import { Context, type Effect } from "effect"

export interface ReadinessShape {
  /** Never fails: trouble is `false`. */
  readonly check: Effect.Effect<boolean>
}

export class Readiness extends Context.Service<Readiness, ReadinessShape>()("numbers/ports/Readiness") {}
