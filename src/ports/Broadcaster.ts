// Port: the owners' event streams (Postgres in production). Every owner event is stored, with the next offset of
// its business's stream, in the transaction of the change it announces; instances are woken to read new ones
// and hand them to the sockets of the businesses they follow. A client that was away resumes from its offset.
import { Context, type Duration, type Effect, Schema, type Stream } from "effect"
import type { OwnerEvent } from "../domain/events.ts"
import type { BusinessId } from "../domain/ids.ts"

/** Where a business's stream is: its last offset (1, 2, 3, ... with no gaps; 0 when empty) and its epoch. */
export interface StreamPosition {
  readonly offset: number
  /** Changes only when the stream's history is reset: offsets of another epoch mean nothing in this one. */
  readonly epoch: string
}

export interface StoredEvent {
  readonly businessId: BusinessId
  readonly offset: number
  readonly epoch: string
  readonly event: OwnerEvent
}

/** The event store could not be reached: the change it announces is not made either (same transaction). */
export class BroadcastUnavailable extends Schema.TaggedError<BroadcastUnavailable>()("BroadcastUnavailable", {
  message: Schema.String
}) {}

export interface BroadcasterShape {
  /**
   * Stores the event as the next of the business's stream and wakes the instances. Inside
   * `Repository.withBusinessLock` or `transaction` it commits (and is announced) with the change, or not at all.
   */
  readonly publish: (businessId: BusinessId, event: OwnerEvent) => Effect.Effect<void, BroadcastUnavailable>
  /** The stream's position now. */
  readonly position: (businessId: BusinessId) => Effect.Effect<StreamPosition, BroadcastUnavailable>
  /**
   * The stored events after `after`, in offset order; null when they cannot all be given: `after` is of another
   * epoch, above the stream's offset, or older than the history kept.
   */
  readonly replay: (
    businessId: BusinessId,
    after: StreamPosition
  ) => Effect.Effect<ReadonlyArray<StoredEvent> | null, BroadcastUnavailable>
  /**
   * This instance follows the business (counted: one `unwatch` per `watch`): from the position it answers, every
   * stored event of the business reaches `all`, in offset order, once, however the wake-ups fare.
   */
  readonly watch: (businessId: BusinessId) => Effect.Effect<StreamPosition, BroadcastUnavailable>
  readonly unwatch: (businessId: BusinessId) => Effect.Effect<void>
  /**
   * Drops the stored events no resume needs any more: those that are both beyond the last `keepAtLeast` of their
   * stream and older than `keepFor`. Offsets are never reused: a stream's position survives its history.
   */
  readonly prune: (retention: {
    readonly keepAtLeast: number
    readonly keepFor: Duration.Duration
  }) => Effect.Effect<number, BroadcastUnavailable>
  /** The events of the businesses this instance follows, as they reach it. */
  readonly all: Stream.Stream<StoredEvent>
}

export class Broadcaster extends Context.Service<Broadcaster, BroadcasterShape>()(
  "numbers/ports/Broadcaster"
) {}
