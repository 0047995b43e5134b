// Broadcaster across instances: every publish is a Postgres NOTIFY; every instance LISTENs and hands
// events to its own subscribers. Payloads are the small wire form of an event (ids and short fields).
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, PubSub, Queue, Schedule, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { OwnerEvent } from "../../domain/events.ts"
import type { BusinessId } from "../../domain/ids.ts"
import { Broadcaster } from "../../ports/Broadcaster.ts"

export const CHANNEL = "numbers_owner_events"

const encode = Schema.encodeSync(Schema.fromJsonString(OwnerEvent))
const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(OwnerEvent))

export const layer = Layer.effect(
  Broadcaster,
  Effect.gen(function* () {
    const pg = yield* PgClient.PgClient
    const sql = yield* SqlClient.SqlClient
    const hub = yield* PubSub.unbounded<OwnerEvent>()

    // One LISTEN connection per instance. When it drops (database restart, network), listen again with
    // backoff for as long as the instance lives; events sent meanwhile are missed, and a dashboard
    // reads the current state when it (re)subscribes.
    const listen = Effect.gen(function* () {
      const notifications = yield* pg.listen(CHANNEL)
      yield* Effect.logDebug("listening for owner events")
      return yield* Queue.take(notifications).pipe(
        Effect.flatMap((n) =>
          decode(n.payload).pipe(
            Effect.flatMap((event) => PubSub.publish(hub, event)),
            Effect.catchTag("SchemaError", () => Effect.logWarning("ignored a malformed owner event"))
          )
        ),
        Effect.forever
      )
    }).pipe(Effect.scoped)
    yield* listen.pipe(
      Effect.tapError((error) => Effect.logWarning(`owner-event listener lost: ${error._tag}; reconnecting`)),
      Effect.retry(
        Schedule.exponential("100 millis").pipe(
          Schedule.jittered,
          Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(5))))
        )
      ),
      Effect.forkScoped
    )

    // pg_notify through the SQL client (not pg.notify, which takes its own connection): inside a transaction
    // the notification is sent on commit, and dropped on rollback.
    const publish = Effect.fn("Broadcaster.publish")(function* (_businessId: BusinessId, event: OwnerEvent) {
      yield* sql`SELECT pg_notify(${CHANNEL}, ${encode(event)})`.pipe(
        Effect.retry({ schedule: Schedule.exponential("50 millis"), times: 3 }),
        // Best effort by design: the owner's dashboard also reads the state when it subscribes.
        Effect.catch((error) => Effect.logWarning(`owner event not sent: ${error.reason._tag}`))
      )
    })

    const subscribe = (businessId: BusinessId) =>
      Stream.fromPubSub(hub).pipe(Stream.filter((event) => event.businessId === businessId))

    return Broadcaster.of({ publish, subscribe, all: Stream.fromPubSub(hub) })
  })
)
