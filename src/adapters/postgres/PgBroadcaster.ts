// Broadcaster across instances: every publish is a Postgres NOTIFY; every instance LISTENs and hands
// events to its own subscribers. Payloads are the small wire form of an event (ids and short fields).
import { PgClient } from "@effect/sql-pg"
import {
  Duration,
  Effect,
  Exit,
  Layer,
  Metric,
  Option,
  PubSub,
  Queue,
  Request,
  RequestResolver,
  Schedule,
  Schema,
  Semaphore,
  Stream
} from "effect"
import { SqlClient } from "effect/sql"
import { OwnerEvent } from "../../domain/events.ts"
import type { BusinessId } from "../../domain/ids.ts"
import { Broadcaster } from "../../ports/Broadcaster.ts"
import { ownerEvents } from "../../ports/metrics.ts"
import { failureKind, retryTransient } from "./failures.ts"

const CHANNEL = "numbers_owner_events"

/** Events sent in one statement at most (each payload is well under a kilobyte). */
const MAX_BATCH = 256

class Notify extends Request.Class<{ readonly payload: string }, void> {}

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

    const notifyAll = (payloads: ReadonlyArray<string>) =>
      sql`SELECT pg_notify(${CHANNEL}, payload) FROM jsonb_array_elements_text(${JSON.stringify(payloads)}::jsonb) AS e(payload)`.pipe(
        retryTransient(sql),
        // Best effort by design: the owner's dashboard also reads the state when it subscribes.
        Effect.catch((error) => Effect.logWarning(`owner events not sent: ${failureKind(error)}`)),
        Effect.asVoid
      )

    // Outside a transaction, events published while a NOTIFY is in flight wait for it and then go out
    // together: one statement and one commit for many (a NOTIFY commit is serialised in Postgres, so one per
    // event bounded a burst at the commit rate). An idle path waits only a tick.
    const sending = yield* Semaphore.make(1)
    const batched = RequestResolver.make<Notify>((entries) =>
      Semaphore.withPermit(
        sending,
        notifyAll(entries.map((entry) => entry.request.payload)).pipe(
          Effect.andThen(
            Effect.sync(() => {
              for (const entry of entries) entry.completeUnsafe(Exit.void)
            })
          )
        )
      )
    ).pipe(
      RequestResolver.setDelayEffect(
        Effect.andThen(Effect.yieldNow, Semaphore.withPermit(sending, Effect.void))
      ),
      RequestResolver.batchN(MAX_BATCH)
    )

    // pg_notify through the SQL client (not pg.notify, which takes its own connection): inside a transaction
    // the notification is sent on its commit, and dropped on rollback.
    const publish = Effect.fn("Broadcaster.publish")(function* (_businessId: BusinessId, event: OwnerEvent) {
      const payload = encode(event)
      // Counted as published: inside a transaction that then rolls back (rare: its commit failing), the count
      // runs ahead of what owners received.
      yield* Metric.update(Metric.withAttributes(ownerEvents, { type: event._tag }), 1)
      const transaction = yield* Effect.serviceOption(sql.transactionService)
      if (Option.isSome(transaction)) return yield* notifyAll([payload])
      return yield* Effect.request(new Notify({ payload }), batched)
    })

    const subscribe = (businessId: BusinessId) =>
      Stream.fromPubSub(hub).pipe(Stream.filter((event) => event.businessId === businessId))

    return Broadcaster.of({ publish, subscribe, all: Stream.fromPubSub(hub) })
  })
)
