// Provider webhooks through app.handle: Twilio's signature (forged, signed for another URL, a changed field),
// the TwiML answers, and Vapi's secret and routing (business by id, business by assistant, trial by assistant).
import { Redacted } from "effect"
import twilio from "twilio"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MemoryAssistantControl } from "../../../src/adapters/memory/MemoryAssistant.ts"
import { MemoryBroadcasterControl } from "../../../src/adapters/memory/MemoryBroadcaster.ts"
import { APOLOGY_TWIML, REJECT_TWIML } from "../../../src/app/usecases/InboundCall.ts"
import { UNKNOWN_CALLER_REPLY } from "../../../src/app/usecases/VapiEvents.ts"
import { Repository } from "../../../src/ports/Repository.ts"
import { makeTestApp, SETTINGS, trialBody } from "../../support/httpApp.ts"

let t: Awaited<ReturnType<typeof makeTestApp>>
beforeAll(async () => {
  t = await makeTestApp()
})
afterAll(() => t.close())

const assignedBusiness = async () => {
  const trial = (await t.call("POST", "/api/trials", { body: trialBody() })).json.trial
  const id = (await t.call("POST", `/api/trials/${trial.id}/convert`)).json.business.id
  await t.jobsDone()
  const business = (await t.call("GET", `/api/businesses/${id}`)).json.business
  expect(business.numberStatus).toBe("assigned")
  return { trial, business }
}

const twilioCall = (
  businessId: string,
  fields: Record<string, string>,
  sign: { url?: string; token?: string; tamper?: boolean } = {}
) => {
  const path = `/webhooks/twilio/inbound?business_id=${businessId}`
  const signature = twilio.getExpectedTwilioSignature(
    sign.token ?? Redacted.value(SETTINGS.twilioAuthToken),
    sign.url ?? `${SETTINGS.appUrl}${path}`,
    fields
  )
  const sent = sign.tamper ? { ...fields, From: "+19995550000" } : fields
  return t.call("POST", path, {
    token: null,
    body: new URLSearchParams(sent).toString(),
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": signature,
      host: "evil.example.net"
    }
  })
}

describe("Twilio inbound webhook", () => {
  it("a signed call for the business's number is handed to its Vapi assistant", async () => {
    const { business } = await assignedBusiness()
    const fields = {
      CallSid: "CA1",
      From: "+14155550100",
      To: business.phoneNumber.e164,
      CallStatus: "ringing"
    }
    const response = await twilioCall(business.id, fields)
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toContain("text/xml")
    expect(response.text).toContain("<Connect><Stream")
    const calls = await t.run(MemoryAssistantControl.use((a) => a.inboundCalls))
    expect(calls.at(-1)).toEqual({
      assistantId: business.vapiAssistantId,
      callSid: "CA1",
      from: "+14155550100",
      to: business.phoneNumber.e164
    })
  })

  it("a cancelled business's parked number: the call is rejected (not answered, not billed), Vapi not called", async () => {
    const { business } = await assignedBusiness()
    expect((await t.call("POST", `/api/businesses/${business.id}/cancel`)).status).toBe(202)
    const before = (await t.run(MemoryAssistantControl.use((a) => a.inboundCalls))).length
    const fields = {
      CallSid: "CA-parked",
      From: "+14155550100",
      To: business.phoneNumber.e164,
      CallStatus: "ringing"
    }
    const response = await twilioCall(business.id, fields)
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toContain("text/xml")
    expect(response.text).toBe(REJECT_TWIML)
    expect(response.text).toContain('<Reject reason="rejected"/>')
    expect((await t.run(MemoryAssistantControl.use((a) => a.inboundCalls))).length).toBe(before)
    // Reactivated: the same number rings through again.
    expect((await t.call("POST", `/api/businesses/${business.id}/reactivate`)).status).toBe(202)
    expect((await twilioCall(business.id, { ...fields, CallSid: "CA-back" })).text).toContain(
      "<Connect><Stream"
    )
  })

  it("forged, signed for another URL, or with a changed field: 403, and nothing happens", async () => {
    const { business } = await assignedBusiness()
    const fields = { CallSid: "CA2", From: "+14155550100", To: business.phoneNumber.e164 }
    const before = (await t.run(MemoryAssistantControl.use((a) => a.inboundCalls))).length
    const forged = await twilioCall(business.id, fields, { token: "not-the-auth-token" })
    const otherUrl = await twilioCall(business.id, fields, {
      url: `https://evil.example.net/webhooks/twilio/inbound?business_id=${business.id}`
    })
    const tampered = await twilioCall(business.id, fields, { tamper: true })
    const unsigned = await t.call("POST", `/webhooks/twilio/inbound?business_id=${business.id}`, {
      token: null,
      body: new URLSearchParams(fields).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" }
    })
    expect([forged.status, otherUrl.status, tampered.status, unsigned.status]).toEqual([403, 403, 403, 403])
    expect((await t.run(MemoryAssistantControl.use((a) => a.inboundCalls))).length).toBe(before)
  })

  it("an unknown business, another number, or Vapi failing: a signed call hears an apology, never a 5xx", async () => {
    const { business } = await assignedBusiness()
    const unknown = await twilioCall("no-such-business", {
      CallSid: "CA3",
      From: "+1",
      To: business.phoneNumber.e164
    })
    const wrongNumber = await twilioCall(business.id, {
      CallSid: "CA4",
      From: "+14155550100",
      To: "+19998887777"
    })
    await t.run(MemoryAssistantControl.use((a) => a.injectFaults([{ _tag: "unavailable" }])))
    const vapiDown = await twilioCall(business.id, {
      CallSid: "CA5",
      From: "+14155550100",
      To: business.phoneNumber.e164
    })
    for (const response of [unknown, wrongNumber, vapiDown]) {
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toContain("text/xml")
      expect(response.text).toBe(APOLOGY_TWIML)
      // What the caller hears: something said, then the line hung up; never handed to an assistant.
      expect(response.text).toMatch(/<Response><Say>[^<]+<\/Say><Hangup\/><\/Response>$/)
      expect(response.text).not.toContain("<Connect>")
    }
    // None of the three reached the assistant, and the Vapi fault was met by the call it was meant for:
    // the next call goes through.
    const handedOver = await t.run(MemoryAssistantControl.use((a) => a.inboundCalls))
    expect(handedOver.filter((c) => ["CA3", "CA4", "CA5"].includes(c.callSid))).toEqual([])
    const vapiBack = await twilioCall(business.id, {
      CallSid: "CA6",
      From: "+14155550100",
      To: business.phoneNumber.e164
    })
    expect(vapiBack.text).toContain("<Connect><Stream")
  })
})

const vapi = (body: unknown, options: { businessId?: string; secret?: string | null } = {}) =>
  t.call("POST", `/webhooks/vapi${options.businessId ? `?business_id=${options.businessId}` : ""}`, {
    token: null,
    body,
    headers:
      options.secret === null
        ? {}
        : { "x-vapi-secret": options.secret ?? Redacted.value(SETTINGS.vapiWebhookSecret) }
  })

describe("the sandbox assistant's TwiML", () => {
  it("keeps a signed call's odd CallSid inside its Stream URL: no element of its own", async () => {
    const { business } = await assignedBusiness()
    const callSid = '"/><Dial>+19005551212</Dial><X a="'
    const response = await twilioCall(business.id, {
      CallSid: callSid,
      From: "+14155550100",
      To: business.phoneNumber.e164,
      CallStatus: "ringing"
    })
    expect(response.status).toBe(200)
    expect(response.text).not.toContain("<Dial>")
    expect(response.text).toContain(`/${encodeURIComponent(callSid)}"/></Connect>`)
  })
})

describe("Vapi webhook", () => {
  it("401 without the secret or with a wrong one; 400 for a body that is not a Vapi message", async () => {
    const message = { message: { type: "assistant-request", call: { id: "c", assistantId: "a" } } }
    expect((await vapi(message, { secret: null })).status).toBe(401)
    expect((await vapi(message, { secret: "wrong" })).status).toBe(401)
    expect((await vapi({ nope: true })).status).toBe(400)
    expect((await vapi("not json")).status).toBe(400)
    expect((await vapi({ message: { type: 42 } })).status).toBe(400)
    // The field to fix is named by its path, as a person would write it.
    const empty = await vapi({ message: { type: "" } })
    expect(empty.status).toBe(400)
    expect(empty.json.error.message).toMatch(/^message\.type: /)
  })

  it("routes to the business by business_id, then by assistant, then to the trial", async () => {
    const { trial, business } = await assignedBusiness()
    const request = (assistantId: string) => ({
      message: { type: "assistant-request", call: { id: "c1", assistantId } }
    })
    expect((await vapi(request("other"), { businessId: business.id })).json).toEqual({
      assistantId: business.vapiAssistantId
    })
    expect((await vapi(request(business.vapiAssistantId))).json).toEqual({
      assistantId: business.vapiAssistantId
    })
    // A trial not yet converted keeps its assistant: its events route to the trial.
    const lone = (await t.call("POST", "/api/trials", { body: trialBody() })).json.trial
    expect((await vapi(request(lone.vapiAssistantId))).json).toEqual({ assistantId: lone.vapiAssistantId })
    const unknown = await vapi(request("nobody"))
    expect(unknown.status).toBe(200)
    expect(unknown.json).toEqual({ error: UNKNOWN_CALLER_REPLY })
    expect(trial.vapiAssistantId).toBe(business.vapiAssistantId)
  })

  it("status-update and end-of-call-report record the call and tell the owner; other types are acknowledged", async () => {
    const { business } = await assignedBusiness()
    const call = {
      id: `call-${crypto.randomUUID()}`,
      assistantId: business.vapiAssistantId,
      customer: { number: "+14155550100" }
    }
    const ringing = await vapi({ message: { type: "status-update", status: "ringing", call } })
    const ended = await vapi({
      message: {
        type: "end-of-call-report",
        endedReason: "customer-ended-call",
        call,
        analysis: { summary: "Booked a cleaning." }
      }
    })
    const other = await vapi({ message: { type: "speech-update", call } })
    expect([ringing.json, ended.json, other.json]).toEqual([{}, {}, {}])
    const calls = (await t.call("GET", `/api/businesses/${business.id}/calls`)).json.calls
    expect(calls).toEqual([
      expect.objectContaining({
        callId: call.id,
        status: "ended",
        endedReason: "customer-ended-call",
        from: "+14155550100",
        summary: "Booked a cleaning."
      })
    ])
    const events = await t.run(MemoryBroadcasterControl.use((b) => b.published))
    const updates = events
      .filter((e) => e.businessId === business.id && e.event._tag === "call.updated")
      .map((e) => e.event)
    expect(updates.map((e) => (e._tag === "call.updated" ? e.status : ""))).toEqual(["ringing", "ended"])
    // An event for nobody is acknowledged (and logged), not recorded.
    const orphan = await vapi({
      message: { type: "status-update", status: "ringing", call: { id: "x", assistantId: "nobody" } }
    })
    expect(orphan.json).toEqual({})
    const stored = await t.run(Repository.use((r) => r.recentCalls("nobody", 5)))
    expect(stored).toEqual([])
  })

  it("a NUL in Vapi's free text is dropped, not the call (Postgres's text cannot hold one)", async () => {
    const { business } = await assignedBusiness()
    const call = { id: `call-${crypto.randomUUID()}`, assistantId: business.vapiAssistantId }
    const answer = await vapi({
      message: {
        type: "end-of-call-report",
        endedReason: "customer-\u0000ended-call",
        customer: { number: "+1415555\u00000100" },
        call,
        analysis: { summary: "Booked\u0000 a cleaning." }
      }
    })
    expect(answer.json).toEqual({})
    const calls = (await t.call("GET", `/api/businesses/${business.id}/calls`)).json.calls
    expect(calls).toEqual([
      expect.objectContaining({
        callId: call.id,
        endedReason: "customer-ended-call",
        from: "+14155550100",
        summary: "Booked a cleaning."
      })
    ])
  })

  it("a call's times are read as ISO 8601 instants only; anything else is recorded as unknown, not guessed", async () => {
    const { business } = await assignedBusiness()
    const cases: Array<[string, string | null]> = [
      ["2026-12-01T10:00:00.123Z", "2026-12-01T10:00:00.123Z"],
      ["2026-12-01T11:00:00+01:00", "2026-12-01T10:00:00.000Z"],
      ["0", null],
      ["1", null],
      ["2026-02-30T00:00:00Z", null],
      ["2026-12-01", null],
      ["+200000-01-01T00:00:00Z", null],
      ["-271821-04-20T00:00:00Z", null],
      ["0000-01-01T00:00:00Z", null],
      ["2026-12-01T25:00:00Z", null]
    ]
    for (const [startedAt, expected] of cases) {
      const call = { id: `call-${crypto.randomUUID()}`, assistantId: business.vapiAssistantId }
      const answer = await vapi({
        message: { type: "status-update", status: "in-progress", startedAt, endedAt: startedAt, call }
      })
      expect(answer.json, startedAt).toEqual({})
      const calls = (await t.call("GET", `/api/businesses/${business.id}/calls`)).json.calls
      const recorded = calls.find((c: { callId: string }) => c.callId === call.id)
      expect(recorded, startedAt).toMatchObject({
        status: "in-progress",
        startedAt: expected,
        endedAt: expected
      })
    }
  })
})
