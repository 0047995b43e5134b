// Every place an id of ours enters from outside (path segments, the webhooks' business_id, Vapi's ids in
// bodies, /cable frames), filled with what a hostile client sends, against the Postgres repository: each gets
// what an unknown id gets on its surface, never a 5xx, with no lookup for a malformed one and nothing changed.
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, ManagedRuntime, Redacted, Scope } from "effect"
import { SqlClient } from "effect/sql"
import twilio from "twilio"
import * as PostgresRepository from "../../../src/adapters/postgres/PostgresRepository.ts"
import { makeApp } from "../../../src/app/http/app.ts"
import { signToken } from "../../../src/app/http/auth.ts"
import { MAX_FRAME_BYTES, openSockets, REJECTED, relayEvents } from "../../../src/app/http/cable.ts"
import { memoryLayer } from "../../../src/app/layers/memory.ts"
import { APOLOGY_TWIML } from "../../../src/app/usecases/InboundCall.ts"
import { jobHandlers } from "../../../src/app/usecases/jobHandlers.ts"
import { JobQueue } from "../../../src/ports/JobQueue.ts"
import { Repository, type RepositoryShape } from "../../../src/ports/Repository.ts"
import { testDatabase } from "../../support/database.ts"
import { reportFigures } from "../../support/figures.ts"
import { HOSTILE_JSON_VALUES, HOSTILE_URL_VALUES, UNKNOWN_IDS } from "../../support/hostile.ts"
import { SETTINGS, trialBody } from "../../support/httpApp.ts"

/** Counts every call into the repository: a malformed id must be refused before any of them. */
const lookups = { count: 0 }
const countingRepository = Layer.effect(
  Repository,
  Effect.map(Effect.service(Repository), (inner) =>
    Repository.of(
      Object.fromEntries(
        Object.entries(inner).map(([name, method]) => [
          name,
          (...args: ReadonlyArray<unknown>) => {
            lookups.count++
            return (method as (...args: ReadonlyArray<unknown>) => unknown)(...args)
          }
        ])
      ) as unknown as RepositoryShape
    )
  )
).pipe(Layer.provide(PostgresRepository.layer))

const runtime = ManagedRuntime.make(
  Layer.merge(
    memoryLayer({ settings: { appUrl: SETTINGS.appUrl, vapiWebhookSecret: SETTINGS.vapiWebhookSecret } }),
    countingRepository
  ).pipe(Layer.provideMerge(testDatabase()))
)
const sockets = openSockets()
const app = makeApp(runtime.runPromise, SETTINGS, sockets)
let base = ""
let relay: Fiber.Fiber<void, unknown>
let scope: Scope.Closeable
let service = ""
let owner = ""
const statuses = new Map<number, number>()

const rows = () =>
  runtime.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      return yield* sql`
        SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM trials)::int AS trials,
          (SELECT count(*) FROM businesses)::int AS businesses, (SELECT count(*) FROM calls)::int AS calls,
          (SELECT count(*) FROM phone_numbers)::int AS numbers`
    })
  )

const call = async (
  method: string,
  pathAndQuery: string,
  init: { headers?: Record<string, string>; body?: string } = {}
) => {
  const response = await fetch(`http://${base}${pathAndQuery}`, { method, ...init })
  statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
  return { status: response.status, text: await response.text() }
}

const signedInbound = (query: string) => {
  const path = `/webhooks/twilio/inbound?business_id=${query}`
  const fields = { CallSid: "CA00000000000000000000000000000000", From: "+14155550100", To: "+14155550123" }
  // Twilio signs the URL as it sent it: our APP_URL, then the path and query as they arrive.
  const url = new URL(`${SETTINGS.appUrl}${path}`)
  const signature = twilio.getExpectedTwilioSignature(
    Redacted.value(SETTINGS.twilioAuthToken),
    `${SETTINGS.appUrl}${url.pathname}${url.search}`,
    fields
  )
  return call("POST", path, {
    headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature },
    body: new URLSearchParams(fields).toString()
  })
}

const vapi = (query: string, message: unknown) =>
  call("POST", `/webhooks/vapi?business_id=${query}`, {
    headers: {
      "content-type": "application/json",
      "x-vapi-secret": Redacted.value(SETTINGS.vapiWebhookSecret)
    },
    body: JSON.stringify({ message })
  })

/** Subscribes over a real socket; resolves with what the server answered and how it closed. */
const subscribe = (businessId: unknown, token: string) =>
  new Promise<{ readonly reply: Record<string, unknown>; readonly code: number }>((resolve, reject) => {
    const socket = new WebSocket(`ws://${base}/cable`)
    let reply: Record<string, unknown> = {}
    const timer = setTimeout(() => reject(new Error("no answer on /cable within 5 s")), 5_000)
    socket.onopen = () => socket.send(JSON.stringify({ type: "subscribe", businessId, token }))
    socket.onmessage = ({ data }) => {
      reply = JSON.parse(String(data))
    }
    socket.onclose = ({ code }) => {
      clearTimeout(timer)
      resolve({ reply, code })
    }
  })

beforeAll(async () => {
  scope = await runtime.runPromise(Scope.make())
  await runtime.runPromise(
    JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work)).pipe(Scope.provide(scope))
  )
  app.listen({ port: 0, hostname: "127.0.0.1" })
  base = `127.0.0.1:${app.server?.port}`
  relay = runtime.runFork(relayEvents(sockets, (topic, payload) => void app.server?.publish(topic, payload)))
  service = await Effect.runPromise(signToken(SETTINGS.authSecret, { role: "service" }))
  const created = await fetch(`http://${base}/api/trials`, {
    method: "POST",
    headers: { authorization: `Bearer ${service}`, "content-type": "application/json" },
    body: JSON.stringify(trialBody())
  }).then((r) => r.json() as Promise<{ trial: { ownerId: string } }>)
  owner = await Effect.runPromise(
    signToken(SETTINGS.authSecret, { role: "owner", sub: created.trial.ownerId })
  )
}, 60_000)

afterAll(async () => {
  await runtime.runPromise(Fiber.interrupt(relay))
  await app.stop(true)
  await runtime.runPromise(Scope.close(scope, { _tag: "Success", value: undefined } as never))
  await runtime.dispose()
})

/** Each surface's answer to an id it does not know, and whether a value reaches the repository at all. */
const probe = async (value: string) => {
  const asService = { headers: { authorization: `Bearer ${service}` } }
  const asOwner = { headers: { authorization: `Bearer ${owner}` } }
  const api = [
    await call("POST", `/api/trials/${value}/convert`, asService),
    await call("GET", `/api/businesses/${value}`, asService),
    await call("GET", `/api/businesses/${value}`, asOwner),
    await call("GET", `/api/businesses/${value}/calls`, asService),
    await call("POST", `/api/businesses/${value}/assign-number`, asService),
    // Query names a route does not take are ignored, whatever their values hold.
    await call("GET", `/api/businesses?business_id=${value}`, asOwner)
  ]
  const twiml = await signedInbound(value)
  const webhook = await vapi(value, { type: "status-update", status: "ringing", call: { id: "call-1" } })
  // The listing's cursor is one it gave out, or refused (400) before any lookup.
  const cursor = await call("GET", `/api/businesses?cursor=${value}`, asOwner)
  return { api, twiml, webhook, cursor }
}

describe("hostile ids at every edge", () => {
  it("a malformed id is refused as an unknown one, with no lookup, no 5xx and nothing changed", async () => {
    const before = await rows()
    let cases = 0
    for (const value of HOSTILE_URL_VALUES) {
      const lookupsBefore = lookups.count
      const { api, twiml, webhook, cursor } = await probe(value)
      const [convert, business, ownersView, calls, assign, listing] = api
      // `..` and an empty segment change the route itself: they meet no route, or the listing.
      const routeChanging = value === "" || value === ".." || value === "%2E%2E"
      // Otherwise the owner's listing (their own businesses) is the one lookup these requests make.
      if (!routeChanging) expect(lookups.count - lookupsBefore, value.slice(0, 40)).toBe(1)
      const expected = routeChanging ? [404, 200] : [404]
      for (const answer of [convert, business, ownersView, calls, assign]) {
        expect(expected, `${value.slice(0, 40)}: ${answer?.text.slice(0, 200)}`).toContain(answer?.status)
      }
      expect(listing?.status).toBe(200)
      expect([twiml.status, twiml.text]).toEqual([200, APOLOGY_TWIML])
      expect([webhook.status, webhook.text]).toEqual([200, "{}"])
      expect(cursor.status, value.slice(0, 40)).toBe(400)
      cases += api.length + 3
    }
    for (const value of HOSTILE_JSON_VALUES) {
      const socket = await subscribe(value, service)
      // A frame over the socket's limit is closed unread (1009); any other is answered and closed with 4403.
      const oversized =
        JSON.stringify({ type: "subscribe", businessId: value, token: service }).length > MAX_FRAME_BYTES
      expect([socket.reply.type, socket.code]).toEqual(oversized ? [undefined, 1009] : ["rejected", REJECTED])
      cases += 1
      // Vapi's ids are strings: another JSON type makes the body not a Vapi message (400, nothing done).
      if (typeof value !== "string") {
        expect(
          (await vapi("", { type: "status-update", status: "ringing", call: { id: value } })).status
        ).toBe(400)
        cases += 1
        continue
      }
      const byAssistant = await vapi("", {
        type: "status-update",
        status: "ringing",
        call: { id: value, assistantId: value }
      })
      expect([byAssistant.status, byAssistant.text]).toEqual([200, "{}"])
      const request = await vapi("", {
        type: "assistant-request",
        call: { id: "call-2", assistantId: value }
      })
      expect(request.status).toBe(200)
      expect(JSON.parse(request.text)).toHaveProperty("error")
      cases += 2
    }
    expect(await rows()).toEqual(before)
    reportFigures("hostile ids", {
      values: HOSTILE_URL_VALUES.length + HOSTILE_JSON_VALUES.length,
      requests: cases,
      answersAtOrAbove500: [...statuses]
        .filter(([status]) => status >= 500)
        .reduce((n, [, count]) => n + count, 0),
      statuses: Object.fromEntries(statuses)
    })
    expect([...statuses.keys()].filter((status) => status >= 500)).toEqual([])
  }, 120_000)

  it("a cursor at either end of time Postgres reads answers a page; one past the end is refused", async () => {
    const cursor = (millis: number) => Buffer.from(`${millis}.${UNKNOWN_IDS[1]}`).toString("base64url")
    const asService = { headers: { authorization: `Bearer ${service}` } }
    // 1970-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z.
    for (const millis of [0, 253_402_300_799_999]) {
      const page = await call("GET", `/api/businesses?cursor=${cursor(millis)}`, asService)
      expect([page.status, JSON.parse(page.text).businesses]).toEqual([200, []])
    }
    expect(
      (await call("GET", `/api/businesses?cursor=${cursor(253_402_300_800_000)}`, asService)).status
    ).toBe(400)
  })

  it("a well-formed id of no record is looked up and answered as unknown", async () => {
    for (const value of UNKNOWN_IDS) {
      const { api, twiml, webhook, cursor } = await probe(value)
      expect(api.slice(0, 5).map((answer) => answer.status)).toEqual([404, 404, 404, 404, 404])
      expect(cursor.status).toBe(400)
      expect([twiml.status, twiml.text]).toEqual([200, APOLOGY_TWIML])
      expect(webhook.status).toBe(200)
      const socket = await subscribe(value, service)
      expect([socket.reply.type, socket.code]).toEqual(["rejected", REJECTED])
    }
  }, 60_000)
})
