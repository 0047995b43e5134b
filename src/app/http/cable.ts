// `GET /cable`: owners watch their business live. A client sends `{ type: "subscribe", businessId, token }`
// (or passes `?token=`); the business's owner (or a service) gets `subscribed` with the state now, then the
// business's events; anyone else gets `rejected` and the socket closes with 4403.
import { Cause, DateTime, Duration, Effect, Metric, Schedule, Schema, Stream } from "effect"
import { Elysia } from "elysia"
import type { Business } from "../../domain/entities.ts"
import { BusinessNotFound } from "../../domain/errors.ts"
import { toWire } from "../../domain/events.ts"
import { BusinessId, decodeIdOrNull } from "../../domain/ids.ts"
import { Broadcaster, type StoredEvent } from "../../ports/Broadcaster.ts"
import { cableConnections } from "../../ports/metrics.ts"
import { Repository } from "../../ports/Repository.ts"
import { businessFor } from "../usecases/Businesses.ts"
import { verifyToken } from "./auth.ts"
import { errorBody } from "./respond.ts"
import type { Run } from "./run.ts"
import type { HttpServices, HttpSettings } from "./services.ts"

export const REJECTED = 4403
/** A subscription is a few hundred bytes; anything past this is closed by Bun (1009) unread. */
export const MAX_FRAME_BYTES = 4096

/** The server's socket settings (Bun applies them server-wide): idle sockets are pinged, and dropped
 *  after this many seconds of silence; frames are small. */
export const CABLE_SOCKETS = {
  idleTimeout: 60,
  maxPayloadLength: MAX_FRAME_BYTES,
  // A socket too slow to take its frames is closed rather than sent fewer: its client resumes with `since`.
  closeOnBackpressureLimit: true
}

const Since = Schema.Struct({
  offset: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  epoch: Schema.String.check(Schema.isMaxLength(64))
})

const Subscribe = Schema.Struct({
  type: Schema.Literal("subscribe"),
  businessId: Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(100)),
  token: Schema.optional(Schema.String),
  /** Where the client's copy of the stream ends: what it missed is sent first. */
  since: Schema.optional(Since)
})

const topicOf = (businessId: string) => `business:${businessId}`

interface Socket {
  readonly raw: Closable
  readonly data: { readonly query: Record<string, string | undefined> }
  send(data: string): unknown
  close(code?: number, reason?: string): void
  subscribe(topic: string): void
}

/** An event as a socket receives it: its wire form with its stream position. */
const frameOf = (stored: StoredEvent) =>
  JSON.stringify({ ...toWire(stored.event), offset: stored.offset, epoch: stored.epoch })

/** Decides a subscription: the business, the state now and the stream position it is at, or why not. */
const subscription = (settings: HttpSettings, message: unknown, queryToken: string | undefined) =>
  Effect.gen(function* () {
    const request = yield* Schema.decodeUnknownEffect(Subscribe)(message)
    const caller = yield* verifyToken(settings.authSecret, request.token ?? queryToken)
    // A malformed id is answered as an unknown business is, without a lookup.
    const businessId = decodeIdOrNull(BusinessId)(request.businessId)
    if (businessId === null) return yield* new BusinessNotFound({ businessId: "" })
    yield* businessFor(caller, businessId)
    return { businessId, since: request.since }
  })

/** The state an owner sees, read after the stream's position: it holds at least the events up to it. */
const snapshotOf = (business: Business) => ({
  numberStatus: business.numberStatus,
  phoneNumber: business.phoneNumber?.e164 ?? null,
  status: business.status,
  releaseAt: business.releaseAt && DateTime.formatIso(business.releaseAt),
  assistantStatus: business.assistantStatus,
  failureReason: business.failureReason
})

const reasonOf = (error: { readonly _tag: string; readonly message?: string }) => {
  switch (error._tag) {
    case "Unauthenticated":
      return error.message ?? "a valid token is required"
    case "BusinessNotFound":
      return "no such business for this token"
    case "SchemaError":
      return 'send { "type": "subscribe", "businessId": ..., "token": ..., "since"?: { "offset", "epoch" } }'
    default:
      return "could not subscribe now; try again"
  }
}

/** Closes a socket: the code, and a reason a person can read. */
interface Closable {
  close(code?: number, reason?: string): void
}

/** What this server has sent to a business's topic: the last offset, and the latest events (for the seam). */
interface Relayed {
  delivered: number
  readonly recent: Array<StoredEvent>
}

/** Events kept per followed business for the replay-to-live seam (a seam longer than this reads again). */
const RECENT = 256

/**
 * One server's cable: its open sockets (so that a server that stops can close each with 1001, "going away", and a
 * reason: the dashboard then reconnects, to another instance, instead of waiting on a dead socket), the
 * businesses each socket follows, and what the relay has sent to each business's topic.
 */
export const openSockets = () => {
  // Each socket's businesses, and whether the broadcaster was asked to watch each yet (what a close must undo).
  const sockets = new Map<Closable, Map<BusinessId, boolean>>()
  const followers = new Map<BusinessId, number>()
  const relayed = new Map<BusinessId, Relayed>()
  const unfollowed = (businessId: BusinessId) => {
    const left = (followers.get(businessId) ?? 1) - 1
    if (left > 0) followers.set(businessId, left)
    else {
      // Nobody here follows it now: a later follow starts afresh, from where the broadcaster then is.
      followers.delete(businessId)
      relayed.delete(businessId)
    }
  }
  return {
    add: (socket: Closable) => void sockets.set(socket, new Map()),
    /** The socket is gone: the businesses it had the broadcaster watch, to unwatch. */
    delete: (socket: Closable): ReadonlyArray<BusinessId> => {
      const followed = [...(sockets.get(socket) ?? [])]
      sockets.delete(socket)
      for (const [businessId] of followed) unfollowed(businessId)
      return followed.flatMap(([businessId, watched]) => (watched ? [businessId] : []))
    },
    /** Starts a socket's follow of a business; false for a repeat (or a closed socket). */
    follows: (socket: Closable, businessId: BusinessId) => {
      const followed = sockets.get(socket)
      if (!followed || followed.has(businessId)) return false
      followed.set(businessId, false)
      followers.set(businessId, (followers.get(businessId) ?? 0) + 1)
      return true
    },
    /** The broadcaster watches it for the socket now; false when the socket closed meanwhile (unwatch it). */
    watched: (socket: Closable, businessId: BusinessId) => {
      const followed = sockets.get(socket)
      if (!followed?.has(businessId)) return false
      followed.set(businessId, true)
      return true
    },
    /** A follow that failed: as if it had not been asked for. True when the broadcaster was watching for it. */
    unfollow: (socket: Closable, businessId: BusinessId) => {
      const followed = sockets.get(socket)
      const watched = followed?.get(businessId)
      if (watched === undefined || !followed) return false
      followed.delete(businessId)
      unfollowed(businessId)
      return watched
    },
    relayed,
    closeAll: (code: number, reason: string) => {
      for (const socket of sockets.keys()) socket.close(code, reason)
      sockets.clear()
    }
  }
}
export type OpenSockets = ReturnType<typeof openSockets>

/** RFC 6455's "going away": the server is stopping; the reason says what to do. */
export const GOING_AWAY = 1001
export const GOING_AWAY_REASON = "this server is stopping; reconnect"

/** How long a resume waits for this server to have relayed what the client has already seen elsewhere. */
const CATCH_UP = Duration.seconds(5)

/**
 * The replay-to-live seam, for a socket that must get every event after `after`: the events this server's relay
 * has already sent to the topic (up to `relayed`, else `since`, where following began) are sent to the socket
 * directly, from the stored ones and the relay's recent ones; then, in the same turn of the event loop (no event
 * can reach the topic in between), the socket joins the topic, which carries every later one. None is missed or
 * sent twice. Fails with `CatchingUp` while a needed event is in neither.
 */
class CatchingUp extends Schema.TaggedError<CatchingUp>()("CatchingUp", {}) {}

const joinLive = (
  cable: OpenSockets,
  socket: Socket,
  businessId: BusinessId,
  after: number,
  since: number,
  stored: ReadonlyArray<StoredEvent>
) =>
  Effect.suspend(() => {
    const relayed = cable.relayed.get(businessId)
    // The topic carries what the relay sends after this: events after where following began, after the last sent.
    const sent = Math.max(relayed?.delivered ?? 0, since)
    if (sent < after) return Effect.fail(new CatchingUp())
    const known = new Map<number, StoredEvent>()
    for (const event of [...stored, ...(relayed?.recent ?? [])]) known.set(event.offset, event)
    const frames: Array<string> = []
    for (let offset = after + 1; offset <= sent; offset++) {
      const event = known.get(offset)
      if (!event) return Effect.fail(new CatchingUp())
      frames.push(frameOf(event))
    }
    for (const frame of frames) socket.send(frame)
    socket.subscribe(topicOf(businessId))
    return Effect.void
  })

/** A subscribed socket: the state, then every event after its position (resumed from `since` when it can be). */
const follow = (
  cable: OpenSockets,
  socket: Socket,
  businessId: BusinessId,
  resume: { readonly offset: number; readonly epoch: string } | undefined
) =>
  Effect.gen(function* () {
    const broadcaster = yield* Broadcaster
    const following = yield* broadcaster.watch(businessId)
    // Every watch is undone once: by the socket's close, or here when the socket closed meanwhile or this failed.
    if (!cable.watched(socket.raw, businessId)) return yield* broadcaster.unwatch(businessId)
    yield* Effect.addFinalizer((exit) =>
      exit._tag === "Failure" && cable.unfollow(socket.raw, businessId)
        ? broadcaster.unwatch(businessId)
        : Effect.void
    )
    const position = yield* broadcaster.position(businessId)
    const business = yield* (yield* Repository).findBusiness(businessId)
    if (!business) return yield* new BusinessNotFound({ businessId })
    // Resumed: every stored event after the client's offset; else from the position now (the snapshot holds the
    // rest). A resume that cannot be given whole is refused, said so: the snapshot is then the truth.
    const missed = resume ? yield* broadcaster.replay(businessId, resume) : null
    const recovered = resume === undefined ? undefined : missed !== null
    const after = missed !== null && resume ? resume.offset : position.offset
    socket.send(
      JSON.stringify({
        type: "subscribed",
        businessId,
        offset: position.offset,
        epoch: position.epoch,
        ...(recovered === undefined ? {} : { recovered }),
        ...snapshotOf(business)
      })
    )
    let stored = missed ?? []
    yield* joinLive(cable, socket, businessId, after, following.offset, stored).pipe(
      Effect.catchTag("CatchingUp", () =>
        // The relay is behind what the client saw, or ahead of what was read: read again, shortly.
        broadcaster.replay(businessId, { offset: after, epoch: position.epoch }).pipe(
          Effect.tap((again) => Effect.sync(() => (stored = again ?? stored))),
          Effect.andThen(
            Effect.suspend(() => joinLive(cable, socket, businessId, after, following.offset, stored))
          ),
          Effect.retry({
            schedule: Schedule.exponential("20 millis").pipe(
              Schedule.modifyDelay(({ duration }) =>
                Effect.succeed(Duration.min(duration, Duration.millis(500)))
              )
            ),
            while: (error) => error._tag === "CatchingUp"
          }),
          Effect.timeout(CATCH_UP)
        )
      )
    )
  })

/** `GET /cable` without the upgrade: the caller is told what to send rather than that there is no such route. */
const upgradeRequired = () => {
  const response = errorBody(
    426,
    "invalid_request",
    "/cable is a WebSocket: send the upgrade (Connection: Upgrade, Upgrade: websocket, in lower case)"
  )
  response.headers.set("upgrade", "websocket")
  return response
}

export const cableRoutes = (
  run: Run<HttpServices>,
  settings: HttpSettings,
  sockets: OpenSockets = openSockets()
) =>
  new Elysia({ name: "cable" }).get("/cable", upgradeRequired).ws("/cable", {
    // numbers_cable_connections: the sockets open on this instance.
    open(ws) {
      sockets.add(ws.raw)
      void run(Metric.modify(cableConnections, 1))
    },
    close(ws) {
      const followed = sockets.delete(ws.raw)
      void run(
        Metric.modify(cableConnections, -1).pipe(
          Effect.andThen(
            Effect.forEach(followed, (id) => Broadcaster.use((b) => b.unwatch(id)), { discard: true })
          )
        )
      )
    },
    async message(ws, message) {
      const socket = ws as unknown as Socket
      const exit = await run(
        Effect.exit(
          Effect.gen(function* () {
            const { businessId, since } = yield* subscription(settings, message, socket.data.query.token)
            // One subscription per business and socket: a repeat is ignored (the socket already has its events).
            if (!sockets.follows(ws.raw, businessId)) return
            yield* follow(sockets, socket, businessId, since).pipe(
              Effect.scoped,
              Effect.onError(() => Effect.sync(() => sockets.unfollow(ws.raw, businessId)))
            )
          })
        )
      )
      if (exit._tag === "Success") return
      // A defect is answered as trouble on our side is: the client hears it, and may try again.
      const failure = Cause.findErrorOption(exit.cause)
      const reason = reasonOf(failure._tag === "Some" ? failure.value : { _tag: "Defect" })
      socket.send(JSON.stringify({ type: "rejected", reason }))
      socket.close(REJECTED, reason.slice(0, 120))
    }
  })

/**
 * Relays every owner event reaching this instance to the sockets subscribed to its business (Bun's pub/sub
 * fans out), for as long as the returned effect runs; what it sent is kept in `cable` for the seam.
 */
export const relayEvents = (cable: OpenSockets, publish: (topic: string, payload: string) => void) =>
  Effect.gen(function* () {
    const broadcaster = yield* Broadcaster
    yield* Stream.runForEach(broadcaster.all, (stored) =>
      Effect.sync(() => {
        const relayed = cable.relayed.get(stored.businessId) ?? { delivered: 0, recent: [] }
        // Once and in order: the broadcaster hands each event on once, after the one before it.
        if (stored.offset <= relayed.delivered && cable.relayed.has(stored.businessId)) return
        relayed.delivered = stored.offset
        relayed.recent.push(stored)
        if (relayed.recent.length > RECENT) relayed.recent.shift()
        cable.relayed.set(stored.businessId, relayed)
        publish(topicOf(stored.businessId), frameOf(stored))
      })
    )
  })
