// The OpenAPI document held against the service's real answers: every documented route, and every status it
// documents (successes and errors), answered for real and checked against the schema the document gives it.
// Then /docs: the document as a page, built from our own copy of Swagger UI.
import { Redacted } from "effect"
import twilio from "twilio"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { APOLOGY_TWIML } from "../../../src/app/usecases/InboundCall.ts"
import { Repository } from "../../../src/ports/Repository.ts"
import { type JsonObject, makeTestApp, SETTINGS, trialBody } from "../../support/httpApp.ts"
import { type Answer, answerProblems, type OpenApi, operationOf } from "../../support/openapi.ts"

let t: Awaited<ReturnType<typeof makeTestApp>>
const answers: Array<Answer> = []

beforeAll(async () => {
  // 415 has numbers and 212 none, with no fallback: a trial asking for 212 ends `failed`.
  t = await makeTestApp({
    telephony: { inventory: { "212": 0 }, defaultStock: 5 },
    settings: { fallbackAreaCodes: [], stockChurnRetries: 0 }
  })
}, 60_000)
afterAll(async () => {
  await t.close()
})

/** A request through the app, its answer kept for the check against the document. */
const call = async (method: string, url: string, options: Parameters<typeof t.call>[2] = {}) => {
  const response = await t.call(method, url, options)
  const contentType = response.headers.get("content-type") ?? ""
  answers.push({ method, url, status: response.status, contentType, body: response.text })
  return response
}

const twilioCall = (businessId: string, fields: Record<string, string>, signature?: string) => {
  const url = `/webhooks/twilio/inbound?business_id=${businessId}`
  const signed = twilio.getExpectedTwilioSignature(
    Redacted.value(SETTINGS.twilioAuthToken),
    `${SETTINGS.appUrl}${url}`,
    fields
  )
  return call("POST", url, {
    token: null,
    body: new URLSearchParams(fields).toString(),
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": signature ?? signed
    }
  })
}

const vapi = (body: unknown, secret = Redacted.value(SETTINGS.vapiWebhookSecret)) =>
  call("POST", "/webhooks/vapi", { token: null, body, headers: { "x-vapi-secret": secret } })

describe("the OpenAPI document", () => {
  it("describes every answer the service gives, and the service gives every answer it documents", async () => {
    const spec = (await t.call("GET", "/openapi", { token: null })).json as OpenApi
    const owner = async (trial: JsonObject) => t.sign({ role: "owner", sub: trial.ownerId })
    const convert = async (overrides: Record<string, unknown> = {}) => {
      const trial = (await call("POST", "/api/trials", { body: trialBody(overrides) })).json.trial
      const { id } = (await call("POST", `/api/trials/${trial.id}/convert`)).json.business
      await t.jobsDone()
      return { trial, business: (await call("GET", `/api/businesses/${id}`)).json.business }
    }
    const unknownId = crypto.randomUUID()

    // Trials: created, refused (field, token, role, size), converted, unknown.
    const { trial, business } = await convert()
    const failed = await convert({ requestedAreaCode: "212" })
    await call("POST", "/api/trials", { body: trialBody({ ownerEmail: "nope" }) })
    await call("POST", "/api/trials", { token: null, body: trialBody() })
    await call("POST", "/api/trials", { token: await owner(trial), body: trialBody() })
    await call("POST", "/api/trials", { body: { ...trialBody(), pad: "x".repeat(100_000) } })
    await call("POST", `/api/trials/${unknownId}/convert`)
    await call("POST", "/api/trials/not-an-id/convert")
    await call("POST", `/api/trials/${trial.id}/convert`, { token: "not.a.jwt" })
    await call("POST", `/api/trials/${trial.id}/convert`, { token: await owner(trial) })

    // A call on the business's number, recorded through Vapi, so its calls have one to show.
    const signed = { CallSid: "CA1", From: "+14155550100", To: business.phoneNumber.e164 }
    expect((await twilioCall(business.id, signed)).text).toContain("<Connect>")
    expect((await twilioCall(business.id, { ...signed, To: "+19998887777" })).text).toBe(APOLOGY_TWIML)
    await twilioCall(business.id, signed, "forged")
    await call("POST", `/webhooks/twilio/inbound?business_id=${business.id}`, {
      token: null,
      body: `CallSid=${"x".repeat(70_000)}`,
      headers: { "content-type": "application/x-www-form-urlencoded" }
    })
    const call1 = { id: `call-${crypto.randomUUID()}`, assistantId: business.vapiAssistantId }
    await vapi({ message: { type: "status-update", status: "in-progress", call: call1 } })
    await vapi({
      message: {
        type: "end-of-call-report",
        endedReason: "customer-ended-call",
        startedAt: "2024-05-01T10:00:00Z",
        endedAt: "2024-05-01T10:02:30.5Z",
        call: { ...call1, customer: { number: "+14155550100" } },
        analysis: { summary: "Booked a cleaning." }
      }
    })
    await vapi({ message: { type: "assistant-request", call: call1 } })
    await vapi({ message: { type: "assistant-request", call: { id: "c", assistantId: "nobody" } } })
    await vapi({ message: { type: "assistant-request" } }, "wrong")
    await vapi({ message: { type: 42 } })
    await vapi({ message: { type: "status-update", summary: "x".repeat(70_000) } })

    // Businesses: as owner, service and operator, refused, unknown, and their calls.
    const operator = await t.sign({ role: "operator" })
    for (const token of [await owner(trial), t.service, operator]) {
      await call("GET", "/api/businesses", { token })
      await call("GET", `/api/businesses/${business.id}`, { token })
      await call("GET", `/api/businesses/${business.id}/calls`, { token })
    }
    await call("GET", "/api/businesses", { token: null })
    await call("GET", `/api/businesses/${business.id}`, { token: null })
    await call("GET", `/api/businesses/${unknownId}`)
    await call("GET", `/api/businesses/${business.id}/calls`, { token: null })
    await call("GET", "/api/businesses/not-an-id/calls")

    // The listing a page at a time: an operator's, the next page, filtered; a bad cursor or limit (400).
    const page = await call("GET", "/api/businesses?limit=1", { token: operator })
    expect(page.json.nextCursor).toEqual(expect.any(String))
    const last = await call("GET", `/api/businesses?limit=1&cursor=${page.json.nextCursor}`, {
      token: operator
    })
    expect(last.json.nextCursor).toBeNull()
    const failing = await call("GET", "/api/businesses?numberStatus=failed&assistantStatus=pending", {
      token: operator
    })
    expect(failing.json.businesses.map((b: JsonObject) => b.id)).toEqual([failed.business.id])
    expect((await call("GET", "/api/businesses?cursor=bm90LWEtY3Vyc29y", { token: operator })).status).toBe(
      400
    )
    expect((await call("GET", "/api/businesses?limit=500", { token: await owner(trial) })).status).toBe(400)

    // Assignment again: the failed one is queued (202), the assigned one refused (409).
    await call("POST", `/api/businesses/${failed.business.id}/assign-number`)
    await call("POST", `/api/businesses/${business.id}/assign-number`)
    await call("POST", `/api/businesses/${business.id}/assign-number`, { token: await owner(trial) })
    await call("POST", `/api/businesses/${business.id}/assign-number`, { token: operator })
    await call("POST", `/api/businesses/${business.id}/assign-number`, { token: null })
    await call("POST", `/api/businesses/${unknownId}/assign-number`)
    // The number's life: release refused while active (409), cancel, release now, reactivate; each refused
    // without a token (401), to an owner (403), for an unknown business (404).
    await call("POST", `/api/businesses/${business.id}/release`)
    await call("POST", `/api/businesses/${business.id}/cancel`, { token: operator })
    // A release sent moments ago without an answer: the reactivation waits for it to settle (409).
    await t.run(Repository.use((r) => r.markReleaseInFlight(business.id)))
    expect((await call("POST", `/api/businesses/${business.id}/reactivate`)).status).toBe(409)
    await t.run(Repository.use((r) => r.clearReleaseInFlight(business.id)))
    await call("POST", `/api/businesses/${business.id}/release`)
    await call("POST", `/api/businesses/${business.id}/reactivate`)
    for (const action of ["cancel", "reactivate", "release"]) {
      await call("POST", `/api/businesses/${business.id}/${action}`, { token: null })
      await call("POST", `/api/businesses/${business.id}/${action}`, { token: await owner(trial) })
      await call("POST", `/api/businesses/${unknownId}/${action}`)
    }
    await call("GET", "/health", { token: null })
    await call("GET", "/ready", { token: null })
    // Metrics: for a service token only.
    await call("GET", "/metrics")
    await call("GET", "/metrics", { token: null })
    await call("GET", "/metrics", { token: await owner(trial) })

    // A body Twilio began to send and that broke off: 400 (t.call sends whole bodies, so by hand).
    const broken = new ReadableStream({
      pull: (controller) => controller.error(new Error("connection reset"))
    })
    const url = `/webhooks/twilio/inbound?business_id=${business.id}`
    const response = await t.app.handle(
      new Request(`http://localhost${url}`, { method: "POST", body: broken, duplex: "half" } as RequestInit)
    )
    answers.push({
      method: "POST",
      url,
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      body: await response.text()
    })

    // Each answer is what the document says it is.
    expect(answers.flatMap((answer) => answerProblems(spec, answer))).toEqual([])
    // And every documented answer was given, but for the service's own trouble (503: its database or queue
    // unreachable), which these in-memory adapters do not have.
    const given = new Set(
      answers.map((a) => {
        const found = operationOf(spec, a.method, a.url)
        return typeof found === "string" ? found : `${a.method} ${found.template} ${a.status}`
      })
    )
    const documented = Object.entries(spec.paths).flatMap(([path, operations]) =>
      Object.entries(operations).flatMap(([method, operation]) =>
        Object.keys(operation.responses ?? {}).map((status) => `${method.toUpperCase()} ${path} ${status}`)
      )
    )
    expect(documented.filter((answer) => !given.has(answer) && !answer.endsWith(" 503"))).toEqual([])
  }, 60_000)
})

describe("/docs", () => {
  it("is Swagger UI on /openapi, loaded from our own routes", async () => {
    const page = await t.call("GET", "/docs", { token: null })
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toContain("text/html")
    expect(page.text).toContain('url: "/openapi"')
    // Nothing from another origin: every script and stylesheet is one of ours, and each is served.
    const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? "")
    expect(assets).toEqual(expect.arrayContaining(["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"]))
    expect(assets.filter((asset) => !asset.startsWith("/docs/"))).toEqual([])
    for (const asset of assets) {
      const answer = await t.call("GET", asset, { token: null })
      expect([asset, answer.status]).toEqual([asset, 200])
      expect(answer.headers.get("content-type")).toContain(asset.endsWith(".js") ? "javascript" : "text/css")
    }
    expect((await t.call("GET", "/docs/swagger-ui-bundle.js", { token: null })).text).toContain(
      "SwaggerUIBundle"
    )
  })
})
