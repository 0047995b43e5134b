// `GET /cable`: owners watch their business live. A client sends `{ type: "subscribe", businessId, token }`
// (or passes `?token=`); the business's owner (or a service) gets `subscribed` with the state now, then the
// business's events; anyone else gets `rejected` and the socket closes with 4403.
import { DateTime, Effect, Metric, Schema, Stream } from "effect"
import { Elysia } from "elysia"
import { BusinessNotFound } from "../../domain/errors.ts"
import { toWire } from "../../domain/events.ts"
import { BusinessId, decodeIdOrNull } from "../../domain/ids.ts"
import { Broadcaster } from "../../ports/Broadcaster.ts"
import { cableConnections } from "../../ports/metrics.ts"
import { businessFor } from "../usecases/Businesses.ts"
import { verifyToken } from "./auth.ts"
import type { Run } from "./run.ts"
import type { HttpServices, HttpSettings } from "./services.ts"

export const REJECTED = 4403
/** A subscription is a few hundred bytes; anything past this is closed by Bun (1009) unread. */
export const MAX_FRAME_BYTES = 4096

/** The server's socket settings (Bun applies them server-wide): idle sockets are pinged, and dropped
 *  after this many seconds of silence; frames are small. */
export const CABLE_SOCKETS = { idleTimeout: 60, maxPayloadLength: MAX_FRAME_BYTES }

const Subscribe = Schema.Struct({
  type: Schema.Literal("subscribe"),
  businessId: Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(100)),
  token: Schema.optional(Schema.String)
})

const topicOf = (businessId: string) => `business:${businessId}`

interface Socket {
  readonly data: { readonly query: Record<string, string | undefined> }
  send(data: string): unknown
  close(code?: number, reason?: string): void
  subscribe(topic: string): void
}

/** Decides a subscription: the state to send, or why not. */
const subscription = (settings: HttpSettings, message: unknown, queryToken: string | undefined) =>
  Effect.gen(function* () {
    const request = yield* Schema.decodeUnknownEffect(Subscribe)(message)
    const caller = yield* verifyToken(settings.authSecret, request.token ?? queryToken)
    // A malformed id is answered as an unknown business is, without a lookup.
    const businessId = decodeIdOrNull(BusinessId)(request.businessId)
    if (businessId === null) return yield* new BusinessNotFound({ businessId: "" })
    const business = yield* businessFor(caller, businessId)
    return {
      businessId: business.id,
      reply: {
        type: "subscribed",
        businessId: business.id,
        numberStatus: business.numberStatus,
        phoneNumber: business.phoneNumber?.e164 ?? null,
        assistantStatus: business.assistantStatus,
        failureReason: business.failureReason,
        status: business.status,
        releaseAt: business.releaseAt && DateTime.formatIso(business.releaseAt)
      }
    }
  })

const reasonOf = (error: { readonly _tag: string; readonly message?: string }) => {
  switch (error._tag) {
    case "Unauthenticated":
      return error.message ?? "a valid token is required"
    case "BusinessNotFound":
      return "no such business for this token"
    case "SchemaError":
      return 'send { "type": "subscribe", "businessId": ..., "token": ... }'
    default:
      return "could not subscribe now; try again"
  }
}

/** Closes a socket: the code, and a reason a person can read. */
interface Closable {
  close(code?: number, reason?: string): void
}

/**
 * The sockets open on one server, so that a server that stops can close each with 1001 ("going away") and a
 * reason: the dashboard then reconnects (to another instance) instead of waiting on a dead socket.
 */
export const openSockets = () => {
  const sockets = new Set<Closable>()
  return {
    add: (socket: Closable) => void sockets.add(socket),
    delete: (socket: Closable) => void sockets.delete(socket),
    closeAll: (code: number, reason: string) => {
      for (const socket of sockets) socket.close(code, reason)
      sockets.clear()
    }
  }
}
export type OpenSockets = ReturnType<typeof openSockets>

/** RFC 6455's "going away": the server is stopping; the reason says what to do. */
export const GOING_AWAY = 1001
export const GOING_AWAY_REASON = "this server is stopping; reconnect"

export const cableRoutes = (
  run: Run<HttpServices>,
  settings: HttpSettings,
  sockets: OpenSockets = openSockets()
) =>
  new Elysia({ name: "cable" }).ws("/cable", {
    // numbers_cable_connections: the sockets open on this instance.
    open(ws) {
      sockets.add(ws.raw)
      void run(Metric.modify(cableConnections, 1))
    },
    close(ws) {
      sockets.delete(ws.raw)
      void run(Metric.modify(cableConnections, -1))
    },
    async message(ws, message) {
      const socket = ws as unknown as Socket
      const result = await run(Effect.result(subscription(settings, message, socket.data.query.token)))
      if (result._tag === "Success") {
        socket.subscribe(topicOf(result.success.businessId))
        socket.send(JSON.stringify(result.success.reply))
        return
      }
      const reason = reasonOf(result.failure)
      socket.send(JSON.stringify({ type: "rejected", reason }))
      socket.close(REJECTED, reason.slice(0, 120))
    }
  })

/**
 * Relays every owner event reaching this instance to the sockets subscribed to its business (Bun's pub/sub
 * fans out), for as long as the returned effect runs.
 */
export const relayEvents = (publish: (topic: string, payload: string) => void) =>
  Effect.gen(function* () {
    const broadcaster = yield* Broadcaster
    yield* Stream.runForEach(broadcaster.all, (event) =>
      Effect.sync(() => publish(topicOf(event.businessId), JSON.stringify(toWire(event))))
    )
  })
