// /cable with real WebSocket clients against the listening server: an owner gets `subscribed` then the number
// as it is assigned; a non-owner, an expired token or a malformed request get `rejected` and close code 4403.
import { Fiber } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { relayEvents } from "../../../src/app/http/cable.ts"
import { type JsonObject, makeTestApp, trialBody } from "../../support/httpApp.ts"

let t: Awaited<ReturnType<typeof makeTestApp>>
let base = ""
let relay: Fiber.Fiber<void, never>
beforeAll(async () => {
  // Slow numbers, so a subscriber sees the business pending first.
  t = await makeTestApp({ telephony: { defaultStock: 50, latency: "300 millis" } })
  t.app.listen({ port: 0, hostname: "127.0.0.1" })
  base = `127.0.0.1:${t.app.server?.port}`
  relay = t.runtime.runFork(relayEvents((topic, payload) => void t.app.server?.publish(topic, payload)))
})
afterAll(async () => {
  await t.runtime.runPromise(Fiber.interrupt(relay))
  await t.app.stop(true)
  await t.close()
})

interface Client {
  readonly messages: Array<JsonObject>
  readonly closed: Promise<{ code: number; reason: string }>
  readonly next: (type: string) => Promise<JsonObject>
  readonly send: (data: unknown) => void
}

const connect = async (query = ""): Promise<Client> => {
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
  const next = async (type: string) => {
    const deadline = Date.now() + 10_000
    for (;;) {
      const found = messages.find((m) => m.type === type)
      if (found) return found
      if (Date.now() > deadline) throw new Error(`no ${type} message; got ${JSON.stringify(messages)}`)
      await new Promise<void>((resolve) => {
        waiters.push(resolve)
        setTimeout(resolve, 200)
      })
    }
  }
  return { messages, closed, next, send: (data) => socket.send(JSON.stringify(data)) }
}

const convertedBusiness = async () => {
  const trial = (await t.call("POST", "/api/trials", { body: trialBody() })).json.trial
  const business = (await t.call("POST", `/api/trials/${trial.id}/convert`)).json.business
  return { trial, business }
}

describe("/cable", () => {
  it("the owner gets the state now, then number.assigned when the number arrives", async () => {
    const { trial, business } = await convertedBusiness()
    const token = await t.sign({ role: "owner", sub: trial.ownerId })
    const client = await connect()
    client.send({ type: "subscribe", businessId: business.id, token })
    const subscribed = await client.next("subscribed")
    expect(subscribed).toMatchObject({
      type: "subscribed",
      businessId: business.id,
      numberStatus: "pending",
      phoneNumber: null
    })
    const assigned = await client.next("number.assigned")
    const stored = (await t.call("GET", `/api/businesses/${business.id}`)).json.business
    expect(assigned).toMatchObject({
      businessId: business.id,
      phoneNumber: stored.phoneNumber.e164,
      areaCode: "415"
    })
    expect(new Date(assigned.at).toISOString()).toBe(assigned.at)
  })

  it("an operator token watches any business", async () => {
    const { business } = await convertedBusiness()
    const operator = await connect()
    operator.send({ type: "subscribe", businessId: business.id, token: await t.sign({ role: "operator" }) })
    expect((await operator.next("subscribed")).businessId).toBe(business.id)
    expect((await operator.next("number.assigned")).businessId).toBe(business.id)
  })

  it("accepts the token as ?token=, and a service token for any business", async () => {
    const { trial, business } = await convertedBusiness()
    const owner = await t.sign({ role: "owner", sub: trial.ownerId })
    const viaQuery = await connect(`?token=${owner}`)
    viaQuery.send({ type: "subscribe", businessId: business.id })
    expect((await viaQuery.next("subscribed")).businessId).toBe(business.id)
    const service = await connect()
    service.send({ type: "subscribe", businessId: business.id, token: t.service })
    expect((await service.next("subscribed")).businessId).toBe(business.id)
  })

  it("another owner, an expired or missing token, or a malformed message: rejected, closed with 4403", async () => {
    const { business } = await convertedBusiness()
    const stranger = await t.sign({ role: "owner", sub: "someone-else" })
    const expired = await t.sign({ role: "owner", sub: "someone-else" }, "-1s")
    for (const message of [
      { type: "subscribe", businessId: business.id, token: stranger },
      { type: "subscribe", businessId: business.id, token: expired },
      { type: "subscribe", businessId: business.id },
      { type: "hello" }
    ]) {
      const client = await connect()
      client.send(message)
      const rejected = await client.next("rejected")
      expect(rejected.reason).toBeTypeOf("string")
      expect((await client.closed).code).toBe(4403)
      expect(client.messages.some((m) => m.type === "subscribed" || m.type === "number.assigned")).toBe(false)
    }
  })
})
