// /cable with real WebSocket clients against the listening server: an owner gets `subscribed` then the number
// as it is assigned; a non-owner, an expired token or a malformed request get `rejected` and close code 4403.
import { Duration, Fiber } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { relayEvents } from "../../../src/app/http/cable.ts"
import { Broadcaster } from "../../../src/ports/Broadcaster.ts"
import { type CableClient, connectCable } from "../../support/eventClient.ts"
import { makeTestApp, trialBody } from "../../support/httpApp.ts"

let t: Awaited<ReturnType<typeof makeTestApp>>
let base = ""
let relay: Fiber.Fiber<void, never>
beforeAll(async () => {
  // Slow numbers, so a subscriber sees the business pending first.
  t = await makeTestApp({ telephony: { defaultStock: 50, latency: "300 millis" } })
  t.app.listen({ port: 0, hostname: "127.0.0.1" })
  base = `127.0.0.1:${t.app.server?.port}`
  relay = t.runtime.runFork(
    relayEvents(t.sockets, (topic, payload) => void t.app.server?.publish(topic, payload))
  )
})
afterAll(async () => {
  await t.runtime.runPromise(Fiber.interrupt(relay))
  await t.app.stop(true)
  await t.close()
})

type Client = CableClient
const connect = (query = ""): Promise<Client> => connectCable(base, query)

const convertedBusiness = async () => {
  const trial = (await t.call("POST", "/api/trials", { body: trialBody() })).json.trial
  const business = (await t.call("POST", `/api/trials/${trial.id}/convert`)).json.business
  return { trial, business }
}

describe("/cable", () => {
  it("a plain GET, with no upgrade, is told to upgrade (426), not that there is no such route", async () => {
    const response = await fetch(`http://${base}/cable`)
    expect(response.status).toBe(426)
    expect(response.headers.get("upgrade")).toBe("websocket")
    expect((await response.json()).error).toEqual({
      code: "invalid_request",
      message:
        "/cable is a WebSocket: send the upgrade (Connection: Upgrade, Upgrade: websocket, in lower case)"
    })
    expect((await fetch(`http://${base}/cables`)).status).toBe(404)
  })

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

  describe("resuming with since (offset and epoch)", () => {
    /** A converted business whose number is assigned, its owner's token, and its events so far (1: number.assigned). */
    const assignedBusiness = async () => {
      const { trial, business } = await convertedBusiness()
      await t.jobsDone()
      return { business, token: await t.sign({ role: "owner", sub: trial.ownerId }) }
    }
    const events = (client: Client) => client.messages.filter((m) => m.type !== "subscribed")
    const cancelAndBack = async (id: string) => {
      expect((await t.call("POST", `/api/businesses/${id}/cancel`)).status).toBe(202)
      expect((await t.call("POST", `/api/businesses/${id}/reactivate`)).status).toBe(202)
    }
    const settle = () => new Promise((resolve) => setTimeout(resolve, 150))

    it("subscribed carries the stream's offset and epoch and the whole state; events carry theirs", async () => {
      const { business, token } = await assignedBusiness()
      const client = await connect()
      client.send({ type: "subscribe", businessId: business.id, token })
      const subscribed = await client.next("subscribed")
      expect(subscribed).toMatchObject({
        offset: 1,
        epoch: expect.any(String),
        numberStatus: "assigned",
        status: "active",
        releaseAt: null,
        assistantStatus: "connected",
        failureReason: null
      })
      expect(subscribed).not.toHaveProperty("recovered")
      await cancelAndBack(business.id)
      await client.next("business.reactivated")
      expect(events(client).map((m) => [m.type, m.offset, m.epoch])).toEqual([
        ["business.cancelled", 2, subscribed.epoch],
        ["business.reactivated", 3, subscribed.epoch]
      ])
    })

    it("nothing missed: recovered, and no event; missed ones: each once, in order, then live ones", async () => {
      const { business, token } = await assignedBusiness()
      const first = await connect()
      first.send({ type: "subscribe", businessId: business.id, token })
      const { offset, epoch } = await first.next("subscribed")
      const idle = await connect()
      idle.send({ type: "subscribe", businessId: business.id, token, since: { offset, epoch } })
      expect(await idle.next("subscribed")).toMatchObject({ recovered: true, offset })
      await settle()
      expect(events(idle)).toEqual([])

      // Two events while a client was away; it resumes from offset 1, then a live one follows.
      await cancelAndBack(business.id)
      const back = await connect()
      back.send({ type: "subscribe", businessId: business.id, token, since: { offset, epoch } })
      expect(await back.next("subscribed")).toMatchObject({ recovered: true, offset: 3 })
      await back.next("business.reactivated")
      expect((await t.call("POST", `/api/businesses/${business.id}/cancel`)).status).toBe(202)
      await settle()
      await back.next("business.cancelled")
      await settle()
      expect(events(back).map((m) => m.offset)).toEqual([2, 3, 4])
      expect(events(back).map((m) => m.type)).toEqual([
        "business.cancelled",
        "business.reactivated",
        "business.cancelled"
      ])
    })

    it("another epoch, an offset above the stream's, or a pruned one: recovered false, said so, the state is the truth", async () => {
      const { business, token } = await assignedBusiness()
      const probe = await connect()
      probe.send({ type: "subscribe", businessId: business.id, token })
      const { epoch } = await probe.next("subscribed")
      const cases = [
        { offset: 1, epoch: `${epoch}-other` },
        { offset: 99, epoch }
      ]
      for (const since of cases) {
        const client = await connect()
        client.send({ type: "subscribe", businessId: business.id, token, since })
        expect(await client.next("subscribed"), JSON.stringify(since)).toMatchObject({
          recovered: false,
          offset: 1,
          numberStatus: "assigned"
        })
        await settle()
        expect(events(client)).toEqual([])
      }
      // History pruned down to the last event: offset 1 can no longer be resumed from.
      await cancelAndBack(business.id)
      await t.run(Broadcaster.use((b) => b.prune({ keepAtLeast: 1, keepFor: Duration.zero })))
      const late = await connect()
      late.send({ type: "subscribe", businessId: business.id, token, since: { offset: 1, epoch } })
      expect(await late.next("subscribed")).toMatchObject({ recovered: false, offset: 3, status: "active" })
      // ... while offset 2 still can: event 3 is kept.
      const recent = await connect()
      recent.send({ type: "subscribe", businessId: business.id, token, since: { offset: 2, epoch } })
      expect(await recent.next("subscribed")).toMatchObject({ recovered: true })
      await recent.next("business.reactivated")
      expect(events(recent).map((m) => m.offset)).toEqual([3])
    })

    it("a malformed since is rejected like any malformed subscription", async () => {
      const { business, token } = await assignedBusiness()
      for (const since of [
        { offset: -1, epoch: "e" },
        { offset: 1.5, epoch: "e" },
        { offset: 1 },
        "3",
        { offset: 1, epoch: "x".repeat(65) }
      ]) {
        const client = await connect()
        client.send({ type: "subscribe", businessId: business.id, token, since })
        expect((await client.next("rejected")).reason).toContain("since")
        expect((await client.closed).code).toBe(4403)
      }
    })
  })
})
