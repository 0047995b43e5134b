// Port: live events to owners' open dashboards (Postgres NOTIFY across instances in production).
import { Context, type Effect, type Stream } from "effect"
import type { OwnerEvent } from "../domain/events.ts"
import type { BusinessId } from "../domain/ids.ts"

export interface BroadcasterShape {
  /**
   * Best effort: an owner who is not watching reads the state when they subscribe. Inside
   * `Repository.withBusinessLock` or `transaction`, the event goes out when (and only if) it commits.
   */
  readonly publish: (businessId: BusinessId, event: OwnerEvent) => Effect.Effect<void>
  /** Events for one business, from now on, on this instance. */
  readonly subscribe: (businessId: BusinessId) => Stream.Stream<OwnerEvent>
  /** Every event reaching this instance, from now on (a WebSocket server relays them to its sockets). */
  readonly all: Stream.Stream<OwnerEvent>
}

export class Broadcaster extends Context.Service<Broadcaster, BroadcasterShape>()(
  "numbers/ports/Broadcaster"
) {}
