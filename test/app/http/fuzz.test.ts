// Generated malformed requests on every route: bad bodies, headers, tokens and query strings. None may make
// the service answer 5xx, and none may change anything.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import { afterAll, beforeAll, expect } from "vitest"
import { MemoryAssistantControl } from "../../../src/adapters/memory/MemoryAssistant.ts"
import { MemoryRepositoryControl } from "../../../src/adapters/memory/MemoryRepository.ts"
import { signToken } from "../../../src/app/http/auth.ts"
import { reportFigures } from "../../support/figures.ts"
import { HOSTILE_URL_VALUES } from "../../support/hostile.ts"
import { makeTestApp, SETTINGS, trialBody } from "../../support/httpApp.ts"

const RUNS = Number(process.env.FUZZ_RUNS ?? 3000)

const routes = [
  "/api/trials",
  "/api/trials/:id/convert",
  "/api/businesses",
  "/api/businesses/:id",
  "/api/businesses/:id/calls",
  "/api/businesses/:id/assign-number",
  "/webhooks/twilio/inbound",
  "/webhooks/vapi",
  "/",
  "/openapi",
  "/health",
  "/metrics",
  "/cable"
] as const

const Case = Schema.Struct({
  route: Schema.Literals(routes),
  // Mostly the route's own method, so the requests reach its handler.
  method: Schema.Literals(["native", "native", "native", "GET", "POST", "PUT", "DELETE"]),
  id: Schema.String,
  query: Schema.String,
  auth: Schema.Literals(["none", "garbage", "expired", "owner", "operator", "service-wrong-key", "service"]),
  authNoise: Schema.String,
  contentType: Schema.Literals([
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "",
    "multipart/form-data; boundary=x"
  ]),
  body: Schema.Literals(["none", "string", "json", "almost-trial", "vapi-ish", "form"]),
  text: Schema.String,
  json: Schema.Json,
  signature: Schema.String,
  vapiSecret: Schema.Literals(["none", "wrong", "right"])
})

/** A trial body with one field broken, so even a service token cannot create anything with it. */
const brokenTrial = (json: unknown, text: string) => {
  const base: Record<string, unknown> = trialBody()
  const keys = ["ownerEmail", "ownerName", "businessName", "vapiAssistantId", "requestedAreaCode"]
  const key = keys[text.length % keys.length] ?? "ownerEmail"
  base[key] =
    key === "requestedAreaCode"
      ? typeof json === "string" && /^[2-9]\d\d$/.test(json)
        ? "911"
        : (json ?? 911)
      : typeof json === "string" && json.includes("@")
        ? 7
        : (json ?? null)
  if (base[key] === undefined || typeof base[key] === "string") base[key] = { broken: true }
  return base
}

let t: Awaited<ReturnType<typeof makeTestApp>>
let target: { trialId: string; businessId: string }
let before: Record<string, number>
let inboundBefore = 0
let tokens: Record<string, string | null>
const statuses = new Map<number, number>()

beforeAll(async () => {
  t = await makeTestApp()
  const trial = (await t.call("POST", "/api/trials", { body: trialBody() })).json.trial
  const business = (await t.call("POST", `/api/trials/${trial.id}/convert`)).json.business
  await t.jobsDone()
  target = { trialId: trial.id, businessId: business.id }
  before = await t.run(MemoryRepositoryControl.use((r) => r.counts))
  inboundBefore = (await t.run(MemoryAssistantControl.use((a) => a.inboundCalls))).length
  tokens = {
    none: null,
    garbage: null,
    owner: await t.sign({ role: "owner", sub: crypto.randomUUID() }),
    operator: await t.sign({ role: "operator" }),
    expired: await t.sign({ role: "service" }, "-1s"),
    "service-wrong-key": await Effect.runPromise(
      signToken(Redacted.make("another-key"), { role: "service" })
    ),
    service: t.service
  }
})
afterAll(() => t.close())

const nativeMethod: Partial<Record<(typeof routes)[number], string>> = {
  "/api/trials": "POST",
  "/api/trials/:id/convert": "POST",
  "/api/businesses/:id/assign-number": "POST",
  "/webhooks/twilio/inbound": "POST",
  "/webhooks/vapi": "POST"
}

// Only what can travel in an HTTP header: printable ASCII (a client refuses to send anything else).
const wire = (value: string) => value.replace(/[^\x20-\x7e]/g, "").trim()

const send = (raw: typeof Case.Type) => {
  // Lone surrogates cannot be URL-encoded or sent as UTF-8: a client would have replaced them.
  const c = {
    ...raw,
    method: raw.method === "native" ? (nativeMethod[raw.route] ?? "GET") : raw.method,
    id: raw.id.toWellFormed(),
    query: raw.query.toWellFormed(),
    text: raw.text.toWellFormed()
  }
  // A third of the ids and query values are a hostile client's raw URL text (control bytes, invalid UTF-8, ...).
  const hostile = HOSTILE_URL_VALUES[(c.id.length + c.query.length) % HOSTILE_URL_VALUES.length] ?? ""
  const id = [target.trialId, target.businessId, c.id, "../../etc/passwd", "%00"][c.text.length % 5] ?? c.id
  const segment = c.text.length % 3 === 0 ? hostile : encodeURIComponent(id).slice(0, 200)
  const path = c.route.replace(":id", segment)
  const value = c.query.length % 3 === 0 ? hostile : encodeURIComponent(c.query)
  // A name some route reads (the webhooks' business_id, the listing's filters, page size and cursor), or none.
  const name = ["business_id", "cursor", "limit", "numberStatus", "assistantStatus"][c.authNoise.length % 5]
  const query = c.query === "" ? "" : `?${c.query.length % 2 === 0 ? `${name}=${value}` : value}`
  const headers: Record<string, string> = {}
  if (c.contentType) headers["content-type"] = c.contentType
  if (c.auth === "garbage") headers.authorization = wire(c.authNoise)
  else if (tokens[c.auth]) headers.authorization = `Bearer ${tokens[c.auth]}`
  if (wire(c.signature)) headers["x-twilio-signature"] = wire(c.signature)
  if (c.vapiSecret === "wrong") headers["x-vapi-secret"] = wire(c.authNoise) || "wrong"
  if (c.vapiSecret === "right") headers["x-vapi-secret"] = Redacted.value(SETTINGS.vapiWebhookSecret)
  const body =
    c.method === "GET" || c.body === "none"
      ? undefined
      : c.body === "string"
        ? c.text
        : c.body === "json"
          ? JSON.stringify(c.json)
          : c.body === "almost-trial"
            ? JSON.stringify(brokenTrial(c.json, c.text))
            : c.body === "vapi-ish"
              ? JSON.stringify({
                  message: {
                    type: c.text.length % 2 ? c.json : "status-update",
                    status: c.json,
                    call: c.json
                  }
                })
              : new URLSearchParams({ CallSid: c.text, From: c.authNoise, To: c.query }).toString()
  return t.app.handle(
    new Request(`http://localhost${path}${query}`, { method: c.method, headers, body: body ?? null })
  )
}

describe("fuzzed requests", () => {
  it.effect.prop(
    "no route answers 5xx",
    [Case],
    ([c]) =>
      Effect.promise(async () => {
        const response = await send(c)
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
        assert.isBelow(response.status, 500, `${c.method} ${c.route}: ${await response.text()}`)
      }),
    { timeout: 300_000, arbitrary: { runs: RUNS } }
  )

  it("and nothing changed: no trial, business, call or handed-over call was made", async () => {
    reportFigures("http fuzz", { requests: RUNS, statuses: Object.fromEntries(statuses) })
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(RUNS)
    expect(await t.run(MemoryRepositoryControl.use((r) => r.counts))).toEqual(before)
    expect((await t.run(MemoryAssistantControl.use((a) => a.inboundCalls))).length).toBe(inboundBefore)
  })
})
