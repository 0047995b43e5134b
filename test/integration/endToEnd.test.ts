// The service as a separate process (`bun src/app/entry/main.ts`) on Postgres, with Twilio and Vapi reached over
// HTTP (local servers speaking their wire formats) and a real SMTP server: create a trial, convert it, the
// owner's socket receives the number, the email arrives, and a signed inbound call gets Vapi's TwiML.
import { Effect, Redacted } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { signToken } from "../../src/app/http/auth.ts"
import { PUBLIC_APP_URL, startFakeTwilio } from "../support/fakeTwilio.ts"
import { startFakeVapi } from "../support/fakeVapi.ts"
import type { JsonObject } from "../support/httpApp.ts"
import { eventually, freePort, spawnService, untilReady } from "../support/processes.ts"
import { databaseUrlOf, processSuite } from "../support/processStack.ts"
import { startSmtp } from "../support/smtp.ts"
import { signedInboundCall } from "../support/twilioCalls.ts"

const ASSISTANT = "5f0a2c1e-7b3d-4c1a-9e2f-00000000e2e0"
const AUTH_SECRET = "e2e-auth-secret"
const VAPI_SECRET = "e2e-vapi-secret"

describe("end to end, the service as its own process", () => {
  const twilioApi = startFakeTwilio({ stock: { "212": 0 }, defaultStock: 5, purchaseMillis: 300 })
  const vapiApi = startFakeVapi({ assistants: [ASSISTANT] })
  const { database, services } = processSuite(twilioApi, vapiApi)
  let smtp: Awaited<ReturnType<typeof startSmtp>> | undefined
  afterAll(async () => {
    await smtp?.stop()
  })

  it("trial -> conversion -> owner sees the number live -> email -> a signed call reaches Vapi", {
    timeout: 90_000
  }, async () => {
    smtp = await startSmtp()
    const port = freePort()
    const base = `http://127.0.0.1:${port}`
    const service = spawnService({
      ROLE: "all",
      PORT: String(port),
      // Real-looking Twilio credentials need a public https APP_URL; requests still go to `base`.
      APP_URL: PUBLIC_APP_URL,
      DATABASE_URL: await databaseUrlOf(database),
      ...twilioApi.env,
      ...vapiApi.env,
      VAPI_WEBHOOK_SECRET: VAPI_SECRET,
      AUTH_SECRET,
      SMTP_URL: smtp.url,
      MAIL_FROM: "Numbers <no-reply@numbers.example.com>"
    })
    services.push(service)
    await untilReady(base)

    const sign = (claims: Parameters<typeof signToken>[1]) =>
      Effect.runPromise(signToken(Redacted.make(AUTH_SECRET), claims))
    const serviceToken = await sign({ role: "service" })
    const api = (method: string, path: string, token: string, body?: unknown) =>
      fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? null : JSON.stringify(body)
      }).then(async (r) => ({ status: r.status, json: (await r.json()) as JsonObject }))

    const created = await api("POST", "/api/trials", serviceToken, {
      ownerEmail: "dana@example.com",
      ownerName: "Dana",
      businessName: "Dana's Dental",
      vapiAssistantId: ASSISTANT,
      requestedAreaCode: "212"
    })
    expect(created.status).toBe(201)
    const trial = created.json.trial as { id: string; ownerId: string }
    const ownerToken = await sign({ role: "owner", sub: trial.ownerId })

    const converted = Date.now()
    const conversion = await api("POST", `/api/trials/${trial.id}/convert`, serviceToken)
    expect(conversion.status).toBe(202)
    const businessId = (conversion.json.business as { id: string }).id

    const socket = new WebSocket(`ws://127.0.0.1:${port}/cable`)
    const events: Array<Record<string, string>> = []
    const assigned = new Promise<number>((resolve) => {
      socket.onmessage = ({ data }) => {
        const event = JSON.parse(String(data))
        events.push(event)
        if (
          event.type === "number.assigned" ||
          (event.type === "subscribed" && event.numberStatus === "assigned")
        )
          resolve(Date.now())
      }
    })
    await new Promise((resolve) => {
      socket.onopen = resolve
    })
    socket.send(JSON.stringify({ type: "subscribe", businessId, token: ownerToken }))
    const arrived = await Promise.race([assigned, Bun.sleep(30_000).then(() => 0)])
    expect(arrived, JSON.stringify(events)).toBeGreaterThan(0)
    console.log(`e2e: conversion to the owner's number.assigned: ${arrived - converted} ms`)
    socket.close()

    const business = (await api("GET", `/api/businesses/${businessId}`, ownerToken)).json.business as {
      numberStatus: string
      phoneNumber: { e164: string; areaCode: string }
    }
    expect(business.numberStatus).toBe("assigned")
    expect(business.phoneNumber.areaCode).toBe("415")
    expect(twilioApi.purchases().map((p) => p.areaCode)).toEqual(["415"])

    // Vapi now sends this business's events to us, with our secret.
    const server = vapiApi.assistants.get(ASSISTANT)?.server as {
      url: string
      headers: Record<string, string>
    }
    expect(server.url).toBe(`${PUBLIC_APP_URL}/webhooks/vapi?business_id=${businessId}`)
    expect(server.headers["X-Vapi-Secret"]).toBe(VAPI_SECRET)

    await eventually(async () => smtp?.received().length === 1, "the email", 20_000)
    const mail = smtp.received()[0]
    const national = business.phoneNumber.e164.replace(/^\+1(\d{3})(\d{3})(\d{4})$/, "($1) $2-$3")
    expect(mail?.subject).toBe(`Your new phone number: ${national}`)
    expect(mail?.text).toContain(national)

    // A call to the new number, signed as Twilio signs it (over APP_URL, not the address it is sent to), is
    // handed to Vapi.
    const call = await signedInboundCall(base, twilioApi.authToken, businessId, {
      CallSid: "CAe2e",
      From: "+14155550100",
      To: business.phoneNumber.e164,
      CallStatus: "ringing"
    })
    expect(call.headers.get("content-type")).toContain("text/xml")
    expect(await call.text()).toContain('<Connect><Stream url="wss://')
    expect(vapiApi.calls()).toEqual([
      expect.objectContaining({ assistantId: ASSISTANT, transport: { provider: "twilio", callSid: "CAe2e" } })
    ])

    expect(await service.kill("SIGTERM")).toBe(0)
  })
})
