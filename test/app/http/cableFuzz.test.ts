// Generated frames on /cable, over real sockets: text and binary, JSON and not, subscriptions with real,
// expired, foreign, forged and re-signed tokens. A frame subscribes exactly when it is a subscription to an
// existing business by its owner (or a service); everything else is rejected with 4403. The server never
// fails, and nothing changes.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Redacted, Schema } from "effect"
import { afterAll, beforeAll, expect } from "vitest"
import { MemoryRepositoryControl } from "../../../src/adapters/memory/MemoryRepository.ts"
import { signToken } from "../../../src/app/http/auth.ts"
import { MAX_FRAME_BYTES, REJECTED, relayEvents } from "../../../src/app/http/cable.ts"
import { reportFigures } from "../../support/figures.ts"
import { makeTestApp, trialBody } from "../../support/httpApp.ts"

const RUNS = Number(process.env.FUZZ_RUNS ?? 3000)
/** RFC 6455's close code for a frame larger than the endpoint accepts. */
const MESSAGE_TOO_BIG = 1009

const tokenKinds = [
  "none",
  "owner",
  "service",
  "stranger",
  "expired",
  "wrong-key",
  "payload-swapped",
  "alg-none",
  "noise"
] as const

const Frame = Schema.Struct({
  shape: Schema.Literals(["subscribe", "subscribe", "subscribe", "json", "text", "binary", "huge"]),
  type: Schema.Literals(["subscribe", "subscribe", "unsubscribe", "SUBSCRIBE", ""]),
  business: Schema.Literals(["own", "own", "other", "missing", "noise", "number"]),
  token: Schema.Literals(tokenKinds),
  via: Schema.Literals(["message", "message", "query", "both"]),
  noise: Schema.String,
  json: Schema.Json
})
type Frame = typeof Frame.Type

let t: Awaited<ReturnType<typeof makeTestApp>>
let base = ""
let relay: Fiber.Fiber<void, never>
let own = ""
let other = ""
let tokens: Record<(typeof tokenKinds)[number], string | null>
let before: Record<string, number>
const outcomes = new Map<string, number>()

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

beforeAll(async () => {
  t = await makeTestApp()
  t.app.listen({ port: 0, hostname: "127.0.0.1" })
  base = `127.0.0.1:${t.app.server?.port}`
  relay = t.runtime.runFork(
    relayEvents(t.sockets, (topic, payload) => void t.app.server?.publish(topic, payload))
  )
  const convert = async () => {
    const trial = (await t.call("POST", "/api/trials", { body: trialBody() })).json.trial
    const business = (await t.call("POST", `/api/trials/${trial.id}/convert`)).json.business
    return { ownerId: trial.ownerId as string, businessId: business.id as string }
  }
  const mine = await convert()
  own = mine.businessId
  other = (await convert()).businessId
  const owner = await t.sign({ role: "owner", sub: mine.ownerId })
  const [header, , signature] = owner.split(".")
  tokens = {
    none: null,
    owner,
    service: t.service,
    stranger: await t.sign({ role: "owner", sub: "someone-else" }),
    expired: await t.sign({ role: "owner", sub: mine.ownerId }, "-1s"),
    "wrong-key": await Effect.runPromise(
      signToken(Redacted.make("not-our-key"), { role: "owner", sub: mine.ownerId })
    ),
    // The owner's signature on a service payload: the signature no longer matches.
    "payload-swapped": `${header}.${b64({ role: "service" })}.${signature}`,
    "alg-none": `${b64({ alg: "none", typ: "JWT" })}.${b64({ role: "service" })}.`,
    noise: "not.a.token"
  }
  await t.jobsDone()
  before = await t.run(MemoryRepositoryControl.use((r) => r.counts))
})
afterAll(async () => {
  await t.runtime.runPromise(Fiber.interrupt(relay))
  await t.app.stop(true)
  await t.close()
})

/** What the frame is, and whether the oracle says it subscribes. */
const build = (f: Frame) => {
  const token = tokens[f.token]
  const businessId =
    f.business === "own"
      ? own
      : f.business === "other"
        ? other
        : f.business === "missing"
          ? "b_missing"
          : f.business === "number"
            ? 42
            : f.noise
  const inMessage = f.via === "message" || f.via === "both"
  const inQuery = f.via === "query" || f.via === "both"
  const subscription = { type: f.type, businessId, ...(inMessage && token ? { token } : {}) }
  const data: string | Uint8Array<ArrayBuffer> =
    f.shape === "subscribe"
      ? JSON.stringify(subscription)
      : f.shape === "json"
        ? JSON.stringify(f.json)
        : f.shape === "text"
          ? f.noise.toWellFormed()
          : f.shape === "binary"
            ? new TextEncoder().encode(JSON.stringify(subscription))
            : JSON.stringify({ ...subscription, padding: "x".repeat(MAX_FRAME_BYTES) })
  // The token that counts: the message's, else the query's.
  const effective = inMessage && token ? token : inQuery ? token : null
  const authorised = effective === tokens.owner || effective === tokens.service
  const subscribes =
    f.shape === "subscribe" &&
    f.type === "subscribe" &&
    authorised &&
    (businessId === own || businessId === other)
      ? effective === tokens.service || businessId === own
      : false
  const query = inQuery && token ? `?token=${encodeURIComponent(token)}` : ""
  return { data, query, subscribes, tooBig: f.shape === "huge" }
}

/** Opens a socket, sends one frame, and reports the first answer and how the socket ended. */
const exchange = (query: string, data: string | Uint8Array<ArrayBuffer>) =>
  new Promise<{ readonly first: Record<string, unknown> | null; readonly code: number | null }>(
    (resolve, reject) => {
      const socket = new WebSocket(`ws://${base}/cable${query}`)
      let first: Record<string, unknown> | null = null
      const timer = setTimeout(() => {
        socket.close()
        resolve({ first, code: null })
      }, 5_000)
      socket.onopen = () => socket.send(data)
      socket.onerror = () => reject(new Error("socket error"))
      socket.onmessage = ({ data: answer }) => {
        first ??= JSON.parse(String(answer))
        if (first?.type === "subscribed") {
          clearTimeout(timer)
          socket.close()
          resolve({ first, code: null })
        }
      }
      socket.onclose = ({ code }) => {
        clearTimeout(timer)
        resolve({ first, code })
      }
    }
  )

describe("fuzzed /cable frames", () => {
  it.effect.prop(
    "subscribe exactly when an owner or a service asks for an existing business; otherwise 4403",
    [Frame],
    ([f]) =>
      Effect.promise(async () => {
        const { data, query, subscribes, tooBig } = build(f)
        const { first, code } = await exchange(query, data)
        const outcome = first?.type === "subscribed" ? "subscribed" : `closed ${code}`
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
        const what = `${JSON.stringify(f).slice(0, 300)} -> ${JSON.stringify(first)} ${code}`
        if (tooBig) {
          // Past the frame limit: Bun closes the socket before we read a byte of it.
          assert.strictEqual(first, null, what)
          assert.strictEqual(code, MESSAGE_TOO_BIG, what)
        } else if (subscribes) {
          assert.strictEqual(first?.type, "subscribed", what)
        } else {
          assert.strictEqual(first?.type, "rejected", what)
          assert.strictEqual(code, REJECTED, what)
        }
      }),
    { timeout: 600_000, arbitrary: { runs: RUNS } }
  )

  it("and the server still serves, with nothing changed", async () => {
    reportFigures("cable fuzz", { frames: RUNS, outcomes: Object.fromEntries(outcomes) })
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(RUNS)
    expect(outcomes.get("subscribed") ?? 0).toBeGreaterThan(0)
    expect(outcomes.get(`closed ${REJECTED}`) ?? 0).toBeGreaterThan(0)
    expect(outcomes.get(`closed ${MESSAGE_TOO_BIG}`) ?? 0).toBeGreaterThan(0)
    expect(await t.run(MemoryRepositoryControl.use((r) => r.counts))).toEqual(before)
    expect((await fetch(`http://${base}/openapi`)).status).toBe(200)
  })
})
