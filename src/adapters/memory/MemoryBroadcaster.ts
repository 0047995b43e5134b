// In-memory Broadcaster: a PubSub for this process's subscribers, plus a record of everything published.
import { Context, Effect, Layer, PubSub, Ref, Stream } from "effect"
import type { OwnerEvent } from "../../domain/events.ts"
import type { BusinessId } from "../../domain/ids.ts"
import { Broadcaster } from "../../ports/Broadcaster.ts"

export interface Published {
  readonly businessId: BusinessId
  readonly event: OwnerEvent
}

export class MemoryBroadcasterControl extends Context.Service<
  MemoryBroadcasterControl,
  { readonly published: Effect.Effect<ReadonlyArray<Published>> }
>()("numbers/adapters/memory/MemoryBroadcasterControl") {}

export const layer = Layer.effectContext(
  Effect.gen(function* () {
    const hub = yield* PubSub.unbounded<Published>()
    const log = yield* Ref.make<ReadonlyArray<Published>>([])

    const publish = (businessId: BusinessId, event: OwnerEvent) =>
      Ref.update(log, (all) => [...all, { businessId, event }]).pipe(
        Effect.andThen(PubSub.publish(hub, { businessId, event })),
        Effect.asVoid
      )

    const subscribe = (businessId: BusinessId) =>
      Stream.fromPubSub(hub).pipe(
        Stream.filter((p) => p.businessId === businessId),
        Stream.map((p) => p.event)
      )

    const all = Stream.fromPubSub(hub).pipe(Stream.map((p) => p.event))

    return Context.make(Broadcaster, Broadcaster.of({ publish, subscribe, all })).pipe(
      Context.add(MemoryBroadcasterControl, MemoryBroadcasterControl.of({ published: Ref.get(log) }))
    )
  })
)
