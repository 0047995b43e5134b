// Clients of the owner events, for tests: a collector of a Broadcaster's `all` stream (subscribed for sure before
// it is handed back), and a WebSocket client of /cable that keeps every frame it receives.
import { Effect, type Scope, Stream } from "effect"
import { NumberFailed } from "../../src/domain/events.ts"
import type { BusinessId } from "../../src/domain/ids.ts"
import type { BroadcasterShape, StoredEvent } from "../../src/ports/Broadcaster.ts"
import type { JsonObject } from "./httpApp.ts"

export const newBusinessId = (): BusinessId => crypto.randomUUID() as BusinessId

/** A small event of the business, told apart from the others by its reason. */
export const eventOf = (businessId: BusinessId, reason: string) =>
  new NumberFailed({ businessId, reason, at: new Date().toISOString() })

export const reasonOf = (stored: StoredEvent) =>
  stored.event._tag === "number.failed" ? stored.event.reason : ""

/** Polls `check` (real time) until it holds; fails with `what` and the last value after `timeout`. */
export const eventually = <A>(
  what: string,
  read: Effect.Effect<A>,
  check: (value: A) => boolean,
  timeout = 10_000
) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeout
    for (;;) {
      const value = yield* read
      if (check(value)) return value
      if (Date.now() > deadline) {
        return yield* Effect.die(
          new Error(`${what}: not reached in ${timeout} ms; last: ${JSON.stringify(value)}`)
        )
      }
      yield* Effect.sleep("20 millis")
    }
  })

export interface Collector {
  /** Every event `all` handed on since the collector was subscribed (the probe's excluded). */
  readonly received: Array<StoredEvent>
  readonly of: (businessId: BusinessId) => ReadonlyArray<StoredEvent>
  readonly offsetsOf: (businessId: BusinessId) => ReadonlyArray<number>
}

/**
 * Collects `broadcaster.all` for the scope. `all` subscribes on its first pull, so the collector is handed back
 * only once it has seen an event of a probe business (watched, published until one arrives): every event
 * published after this returns reaches it.
 */
export const collectAll = (broadcaster: BroadcasterShape): Effect.Effect<Collector, never, Scope.Scope> =>
  Effect.gen(function* () {
    const probe = newBusinessId()
    const received: Array<StoredEvent> = []
    let probed = false
    yield* Stream.runForEach(broadcaster.all, (stored) =>
      Effect.sync(() => {
        if (stored.businessId === probe) probed = true
        else received.push(stored)
      })
    ).pipe(Effect.forkScoped)
    yield* broadcaster.watch(probe).pipe(Effect.orDie)
    const deadline = Date.now() + 15_000
    while (!probed) {
      if (Date.now() > deadline) return yield* Effect.die(new Error("the collector never received its probe"))
      yield* broadcaster.publish(probe, eventOf(probe, "probe")).pipe(Effect.orDie)
      yield* Effect.sleep("50 millis")
    }
    yield* broadcaster.unwatch(probe)
    const of = (businessId: BusinessId) => received.filter((stored) => stored.businessId === businessId)
    return { received, of, offsetsOf: (businessId) => of(businessId).map((stored) => stored.offset) }
  })

/** 1, 2, ..., n (or from..to). */
export const range = (from: number, to: number): ReadonlyArray<number> =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

export interface CableClient {
  readonly messages: Array<JsonObject>
  readonly closed: Promise<{ code: number; reason: string }>
  readonly send: (data: unknown) => void
  /** The first message that matches, waited for (10 s at most). */
  readonly next: (match: string | ((message: JsonObject) => boolean), timeout?: number) => Promise<JsonObject>
  /** The events received (every message but subscribed/rejected). */
  readonly events: () => ReadonlyArray<JsonObject>
  readonly close: () => void
}

/** A WebSocket client of `ws://<host:port>/cable<query>`, open when it resolves. */
export const connectCable = async (base: string, query = ""): Promise<CableClient> => {
  const socket = new WebSocket(`ws://${base}/cable${query}`)
  const messages: Array<JsonObject> = []
  const waiters: Array<() => void> = []
  socket.onmessage = ({ data }) => {
    messages.push(JSON.parse(String(data)))
    for (const wake of waiters.splice(0)) wake()
  }
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.onclose = ({ code, reason }) => resolve({ code, reason })
  })
  await new Promise((resolve, reject) => {
    socket.onopen = resolve
    socket.onerror = reject
  })
  const next = async (match: string | ((message: JsonObject) => boolean), timeout = 10_000) => {
    const matches = typeof match === "string" ? (m: JsonObject) => m.type === match : match
    const deadline = Date.now() + timeout
    for (;;) {
      const found = messages.find(matches)
      if (found) return found
      if (Date.now() > deadline)
        throw new Error(`no such message in ${timeout} ms; got ${JSON.stringify(messages)}`)
      await new Promise<void>((resolve) => {
        waiters.push(resolve)
        setTimeout(resolve, 100)
      })
    }
  }
  return {
    messages,
    closed,
    send: (data) => socket.send(JSON.stringify(data)),
    next,
    events: () => messages.filter((m) => m.type !== "subscribed" && m.type !== "rejected"),
    close: () => socket.close()
  }
}
