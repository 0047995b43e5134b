// In-memory Broadcaster: every business's stream in one immutable map, and a PubSub that hands each stored event
// to this process's followers (every business is followed: there is one process). Also a record of what was
// published, for tests.
import { Context, DateTime, type Duration, Effect, Layer, PubSub, Ref, Stream } from "effect"
import type { OwnerEvent } from "../../domain/events.ts"
import type { BusinessId } from "../../domain/ids.ts"
import { Broadcaster, type StoredEvent, type StreamPosition } from "../../ports/Broadcaster.ts"

export interface Published {
  readonly businessId: BusinessId
  readonly event: OwnerEvent
}

interface Stored extends StoredEvent {
  readonly at: DateTime.Utc
}

interface Stream_ {
  readonly epoch: string
  /** The last offset given (kept when the events are pruned). */
  readonly offset: number
  readonly events: ReadonlyArray<Stored>
}

export class MemoryBroadcasterControl extends Context.Service<
  MemoryBroadcasterControl,
  {
    readonly published: Effect.Effect<ReadonlyArray<Published>>
    /** Starts the business's stream again under a new epoch (what a lost history would do). */
    readonly resetEpoch: (businessId: BusinessId) => Effect.Effect<void>
  }
>()("numbers/adapters/memory/MemoryBroadcasterControl") {}

const EMPTY: Stream_ = { epoch: "1", offset: 0, events: [] }

export const layer = Layer.effectContext(
  Effect.gen(function* () {
    const hub = yield* PubSub.unbounded<StoredEvent>()
    const streams = yield* Ref.make<ReadonlyMap<BusinessId, Stream_>>(new Map())
    const log = yield* Ref.make<ReadonlyArray<Published>>([])
    const streamOf = (businessId: BusinessId) =>
      Effect.map(Ref.get(streams), (all) => all.get(businessId) ?? EMPTY)

    const publish = (businessId: BusinessId, event: OwnerEvent) =>
      Effect.gen(function* () {
        const at = yield* DateTime.now
        const stored = yield* Ref.modify(streams, (all) => {
          const stream = all.get(businessId) ?? EMPTY
          const next: Stored = { businessId, offset: stream.offset + 1, epoch: stream.epoch, event, at }
          const updated = { ...stream, offset: next.offset, events: [...stream.events, next] }
          return [next, new Map(all).set(businessId, updated)] as const
        })
        yield* Ref.update(log, (all) => [...all, { businessId, event }])
        yield* PubSub.publish(hub, { businessId, offset: stored.offset, epoch: stored.epoch, event })
      })

    const position = (businessId: BusinessId) =>
      Effect.map(streamOf(businessId), ({ offset, epoch }): StreamPosition => ({ offset, epoch }))

    const replay = (businessId: BusinessId, after: StreamPosition) =>
      Effect.map(streamOf(businessId), (stream): ReadonlyArray<StoredEvent> | null => {
        if (after.epoch !== stream.epoch || after.offset > stream.offset) return null
        const events = stream.events
          .filter((e) => e.offset > after.offset)
          .map(({ at: _at, ...stored }) => stored)
        const first = events[0]?.offset ?? stream.offset + 1
        return first === after.offset + 1 ? events : null
      })

    const prune = ({
      keepAtLeast,
      keepFor
    }: {
      readonly keepAtLeast: number
      readonly keepFor: Duration.Duration
    }) =>
      Effect.gen(function* () {
        const before = DateTime.subtractDuration(yield* DateTime.now, keepFor)
        return yield* Ref.modify(streams, (all) => {
          let dropped = 0
          const pruned = new Map(
            [...all].map(([id, stream]) => {
              const kept = stream.events.filter(
                (e) => e.offset > stream.offset - keepAtLeast || DateTime.isGreaterThanOrEqualTo(e.at, before)
              )
              dropped += stream.events.length - kept.length
              return [id, { ...stream, events: kept }] as const
            })
          )
          return [dropped, pruned] as const
        })
      })

    const control = MemoryBroadcasterControl.of({
      published: Ref.get(log),
      resetEpoch: (businessId) =>
        Ref.update(streams, (all) => {
          const stream = all.get(businessId) ?? EMPTY
          return new Map(all).set(businessId, { epoch: `${Number(stream.epoch) + 1}`, offset: 0, events: [] })
        })
    })
    return Context.make(
      Broadcaster,
      Broadcaster.of({
        publish,
        position,
        replay,
        watch: position,
        unwatch: () => Effect.void,
        prune,
        all: Stream.fromPubSub(hub)
      })
    ).pipe(Context.add(MemoryBroadcasterControl, control))
  })
)
