// Owner event streams on Postgres. An event is stored in `owner_events` with the next offset of its business's
// stream (`event_streams.last_offset`, whose row lock orders writers: offsets follow commit order, with no gaps),
// in the caller's transaction; its NOTIFY carries only `<business id>:<offset>`, as a wake-up. Each instance
// reads the streams it follows by cursor (its last delivered offset per business): a woken stream at once, and
// every followed stream in a sweep every TICK and whenever its LISTEN connection is (re)established, so an
// event committed while LISTEN was down, or whose read failed, is read by the next sweep; none is delivered
// twice.
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Metric, PubSub, Queue, Schedule, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { OwnerEvent } from "../../domain/events.ts"
import type { BusinessId } from "../../domain/ids.ts"
import {
  Broadcaster,
  BroadcastUnavailable,
  type StoredEvent,
  type StreamPosition
} from "../../ports/Broadcaster.ts"
import { labelled, ownerEvents } from "../../ports/metrics.ts"
import { type DbError, failureKind, retryTransient } from "./failures.ts"

const CHANNEL = "numbers_owner_events"

/** How often every followed stream is read even without a wake-up (a NOTIFY lost with its connection). */
const TICK = Duration.seconds(2)

/** Events read in one statement at most; a full batch is followed at once by the next. */
const BATCH = 2_000

/**
 * Streams of a sweep read in one statement. A sweep of every followed stream in one statement (10,000 owners:
 * 20-25 ms in Postgres alone) held up every wake-up behind it; in chunks, each statement also reads the streams
 * woken since the last (docs/BENCHMARKS.md, section 11).
 */
const SWEEP_CHUNK = 500

const ownerEventSeries = labelled(ownerEvents)
const encode = Schema.encodeSync(Schema.fromJsonString(OwnerEvent))
const decode = Schema.decodeUnknownOption(Schema.fromJsonString(OwnerEvent))

const unavailable = (operation: string) => (error: DbError) =>
  Effect.fail(new BroadcastUnavailable({ message: `${operation}: ${failureKind(error)}` }))

interface Followed {
  refs: number
  /** Where following began: every event after it is handed to `all`. */
  readonly since: number
  readonly epoch: string
  /** The last offset handed to `all`. */
  delivered: number
}

interface EventRow {
  readonly businessId: string
  readonly offset: string | number
  readonly epoch: string
  readonly payload: string
}

export const layer = Layer.effect(
  Broadcaster,
  Effect.gen(function* () {
    const pg = yield* PgClient.PgClient
    const sql = yield* SqlClient.SqlClient
    const layerScope = yield* Effect.scope
    // The listener is started by the first watch, but runs as the layer's (not under that watch's span and logs).
    const layerContext = yield* Effect.context<never>()
    const hub = yield* PubSub.unbounded<StoredEvent>()
    // This instance's cursors. Plain mutable state: only this layer's fibers touch it, each step synchronously.
    const followed = new Map<BusinessId, Followed>()
    // Which streams to read: a business id, or every followed one.
    const wakeUps = yield* Queue.unbounded<BusinessId | "all">()

    const publish = Effect.fn("Broadcaster.publish")(function* (businessId: BusinessId, event: OwnerEvent) {
      // One statement, in the caller's transaction if there is one: the stream's next offset (its row lock held to
      // the commit), the event, and the wake-up, which Postgres sends on commit and drops on rollback.
      yield* sql`
        WITH s AS (
          INSERT INTO event_streams (business_id, last_offset) VALUES (${businessId}, 1)
          ON CONFLICT (business_id) DO UPDATE SET last_offset = event_streams.last_offset + 1
          RETURNING last_offset, epoch
        ), e AS (
          INSERT INTO owner_events (business_id, "offset", epoch, type, payload, created_at)
          SELECT ${businessId}, last_offset, epoch, ${event._tag}, ${encode(event)}, clock_timestamp() FROM s
          RETURNING "offset"
        )
        SELECT pg_notify(${CHANNEL}, ${businessId} || ':' || "offset") FROM e`.pipe(
        Effect.catchTag("SqlError", unavailable("Broadcaster.publish"))
      )
      // Counted as published: inside a transaction that then rolls back, the count runs ahead.
      yield* Metric.update(ownerEventSeries({ type: event._tag }), 1)
    })

    const positionOf = (businessId: BusinessId) =>
      Effect.gen(function* () {
        const read = sql<{ readonly lastOffset: string | number; readonly epoch: string }>`
          SELECT last_offset, epoch FROM event_streams WHERE business_id = ${businessId}`
        const [found] = yield* read
        if (found) return { offset: Number(found.lastOffset), epoch: found.epoch } satisfies StreamPosition
        // A stream is made on its first use: its epoch is fixed from then on, whoever asks first. The insert waits
        // for a concurrent one to end; the read after it is a statement of its own, so it sees that one's row.
        yield* sql`INSERT INTO event_streams (business_id) VALUES (${businessId}) ON CONFLICT (business_id) DO NOTHING`
        const [made] = yield* read
        if (!made) return yield* Effect.die(new Error(`no event stream for ${businessId}`))
        return { offset: Number(made.lastOffset), epoch: made.epoch } satisfies StreamPosition
      }).pipe(retryTransient(sql), Effect.catchTag("SqlError", unavailable("Broadcaster.position")))

    /**
     * A stored row as an event; null for one this version cannot read (an event type of a newer version, during a
     * rolling deploy): skipped, and said so, rather than stopping the stream behind it.
     */
    const toStored = (row: EventRow): StoredEvent | null => {
      const event = decode(row.payload)
      return event._tag === "Some"
        ? {
            businessId: row.businessId as BusinessId,
            offset: Number(row.offset),
            epoch: row.epoch,
            event: event.value
          }
        : null
    }

    const replay = Effect.fn("Broadcaster.replay")(function* (businessId: BusinessId, after: StreamPosition) {
      // One statement: the stream's position and the events after `after` (none when the stream has none).
      const rows = yield* sql<
        { readonly lastOffset: string | number; readonly streamEpoch: string } & Partial<EventRow>
      >`
        SELECT s.last_offset, s.epoch AS stream_epoch, e.business_id, e."offset", e.epoch, e.payload
        FROM event_streams s
        LEFT JOIN owner_events e ON e.business_id = s.business_id AND e."offset" > ${after.offset}
        WHERE s.business_id = ${businessId}
        ORDER BY e."offset"`.pipe(
        retryTransient(sql),
        Effect.catchTag("SqlError", unavailable("Broadcaster.replay"))
      )
      const now = rows[0]
        ? { offset: Number(rows[0].lastOffset), epoch: rows[0].streamEpoch }
        : yield* positionOf(businessId)
      if (after.epoch !== now.epoch || after.offset > now.offset) return null
      if (after.offset === now.offset) return []
      const events = rows.flatMap((row) => {
        if (row.payload === undefined || row.payload === null) return []
        const stored = toStored(row as EventRow)
        return stored ? [stored] : []
      })
      // Whole or not at all: a hole (an event pruned, or one unreadable here) would pass for nothing missed.
      if (events.length !== now.offset - after.offset) return null
      // Pruned past `after`: the next one is gone, and a replay would hide the gap.
      return events[0]?.offset === after.offset + 1 ? events : null
    })

    /**
     * Reads the followed streams named past their cursors, and hands the events on; those of a full batch are
     * read again next.
     */
    const readStreams = (targets: ReadonlySet<BusinessId>) =>
      Effect.gen(function* () {
        const cursors = [...targets].flatMap((id) => {
          const entry = followed.get(id)
          return entry ? [{ business_id: id, delivered: entry.delivered }] : []
        })
        if (cursors.length === 0) return
        const rows = yield* sql<EventRow>`
          SELECT e.business_id, e."offset", e.epoch, e.payload
          FROM jsonb_to_recordset(${JSON.stringify(cursors)}::jsonb) AS w(business_id text, delivered bigint)
          JOIN owner_events e ON e.business_id = w.business_id AND e."offset" > w.delivered
          ORDER BY e.business_id, e."offset"
          LIMIT ${BATCH}`
        const handed: Array<StoredEvent> = []
        for (const row of rows) {
          const entry = followed.get(row.businessId as BusinessId)
          const offset = Number(row.offset)
          // In order and once: a cursor only moves forward. A hole (pruned while this instance lagged by days, or
          // an event this version cannot read) is passed, not waited on: a subscriber resuming across it is told.
          if (!entry || offset <= entry.delivered) continue
          if (offset !== entry.delivered + 1)
            yield* Effect.logWarning(
              `owner events ${entry.delivered + 1}..${offset - 1} of ${row.businessId} are gone`
            )
          entry.delivered = offset
          const stored = toStored(row)
          if (stored) handed.push(stored)
          else
            yield* Effect.logWarning(
              `owner event ${offset} of ${row.businessId} is of an unknown type: skipped`
            )
        }
        yield* PubSub.publishAll(hub, handed)
        // Array literals, not arguments: 10,000s of ids would pass the engine's limit on a call's arguments.
        if (rows.length === BATCH) sweep.left = [...targets, ...sweep.left]
      })

    // The sweep in progress: the streams it has still to read, and whether another is to follow it (one asked for
    // while it ran: what it had read by then may have more since). A sweep is finished before the next begins, so
    // the streams at its end are read however long it takes.
    const sweep = { left: [] as Array<BusinessId>, again: false }
    const startSweep = () => {
      sweep.left = Array.from(followed.keys())
      sweep.again = false
    }

    // One reader, so that a stream's events are handed on in order. Each statement reads the streams woken since
    // the last (wake-ups that pile up while it reads are served together) and the sweep's next chunk.
    yield* Effect.gen(function* () {
      const woken = sweep.left.length > 0 ? yield* Queue.clear(wakeUps) : yield* Queue.takeAll(wakeUps)
      if (woken.includes("all")) {
        if (sweep.left.length === 0) startSweep()
        else sweep.again = true
      }
      const targets = new Set(woken.filter((w): w is BusinessId => w !== "all"))
      for (const id of sweep.left.splice(0, SWEEP_CHUNK)) targets.add(id)
      if (sweep.left.length === 0 && sweep.again) startSweep()
      if (targets.size === 0) return
      yield* readStreams(targets).pipe(
        Effect.catchCause((cause) => {
          // The rest of this sweep would fail as this read did (the database gone), a warning a chunk: it is
          // dropped, and the next tick's sweep reads every followed stream, these among them.
          sweep.left = []
          sweep.again = false
          return Effect.logWarning("owner events not read; next sweep", cause)
        })
      )
    }).pipe(Effect.forever, Effect.forkScoped)

    yield* Queue.offer(wakeUps, "all").pipe(Effect.repeat(Schedule.spaced(TICK)), Effect.forkScoped)

    // One LISTEN connection per instance, listened again with backoff when it drops; each time it is up, every
    // followed stream is read (what was committed while it was down). Opened when the first stream is followed,
    // not before: a process nobody watches through (a worker) does not listen, and a NOTIFY costs each listening
    // connection in the database a commit to receive, whatever its channel (docs/BENCHMARKS.md section 10).
    const listen = Effect.gen(function* () {
      const notifications = yield* pg.listen(CHANNEL)
      yield* Queue.offer(wakeUps, "all")
      return yield* Queue.take(notifications).pipe(
        Effect.flatMap((n) => {
          const businessId = n.payload.slice(0, n.payload.lastIndexOf(":")) as BusinessId
          return followed.has(businessId) ? Queue.offer(wakeUps, businessId) : Effect.void
        }),
        Effect.forever
      )
    }).pipe(Effect.scoped)
    const listening = yield* Effect.cached(
      listen.pipe(
        Effect.tapError((error) =>
          Effect.logWarning(`owner-event listener lost: ${error._tag}; reconnecting`)
        ),
        Effect.retry(
          Schedule.exponential("100 millis").pipe(
            Schedule.jittered,
            Schedule.modifyDelay(({ duration }) =>
              Effect.succeed(Duration.min(duration, Duration.seconds(5)))
            )
          )
        ),
        Effect.provideContext(layerContext),
        Effect.forkIn(layerScope),
        Effect.asVoid
      )
    )

    const following = (entry: Followed): StreamPosition => {
      entry.refs++
      return { offset: entry.since, epoch: entry.epoch }
    }

    const watch = Effect.fn("Broadcaster.watch")(function* (businessId: BusinessId) {
      const known = followed.get(businessId)
      if (known) return following(known)
      const position = yield* positionOf(businessId)
      // Another watch may have begun following it while this one read.
      const raced = followed.get(businessId)
      if (raced) return following(raced)
      followed.set(businessId, {
        refs: 1,
        since: position.offset,
        epoch: position.epoch,
        delivered: position.offset
      })
      // What was committed since the position was read comes at once, not on the next tick.
      yield* Queue.offer(wakeUps, businessId)
      yield* listening
      return position
    })

    const unwatch = (businessId: BusinessId) =>
      Effect.sync(() => {
        const entry = followed.get(businessId)
        if (entry && --entry.refs <= 0) followed.delete(businessId)
      })

    const prune = Effect.fn("Broadcaster.prune")(function* (retention: {
      readonly keepAtLeast: number
      readonly keepFor: Duration.Duration
    }) {
      const rows = yield* sql<{ readonly pruned: number }>`
        WITH gone AS (
          DELETE FROM owner_events e USING event_streams s
          WHERE e.business_id = s.business_id
            AND e."offset" <= s.last_offset - ${retention.keepAtLeast}
            AND e.created_at < now() - make_interval(secs => ${Duration.toSeconds(retention.keepFor)})
          RETURNING 1
        )
        SELECT count(*)::int AS pruned FROM gone`.pipe(
        retryTransient(sql),
        Effect.catchTag("SqlError", unavailable("Broadcaster.prune"))
      )
      return rows[0]?.pruned ?? 0
    })

    return Broadcaster.of({
      publish,
      position: positionOf,
      replay,
      watch,
      unwatch,
      prune,
      all: Stream.fromPubSub(hub)
    })
  })
)
