// Web and worker proven apart: two ROLE=web processes and ROLE=worker processes on one Postgres. A conversion
// enters through web A, the owner watches on web B, a worker does the job. SIGTERM to a worker in the middle of
// a purchase: the job finishes or is handed back, one purchase, the worker exits 0. SIGTERM to web B: the
// owner's socket is closed with 1001 and a reason.
import { Effect, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { signToken } from "../../src/app/http/auth.ts"
import { GOING_AWAY, GOING_AWAY_REASON } from "../../src/app/http/cable.ts"
import { startFakeTwilio } from "../support/fakeTwilio.ts"
import { startFakeVapi } from "../support/fakeVapi.ts"
import type { JsonObject } from "../support/httpApp.ts"
import { eventually, freePort, spawnService, untilReady } from "../support/processes.ts"
import { databaseUrlOf, processSuite, SECRETS } from "../support/processStack.ts"

const ASSISTANT = "5f0a2c1e-7b3d-4c1a-9e2f-0000000a0a0a"

/** A socket on `base`, subscribed for `businessId`, with every frame it received and how it closed. */
const watch = (base: string, businessId: string, token: string) => {
  const frames: Array<Record<string, unknown>> = []
  const socket = new WebSocket(`${base.replace("http", "ws")}/cable`)
  const closed = new Promise<{ readonly code: number; readonly reason: string }>((resolve) => {
    socket.onclose = ({ code, reason }) => resolve({ code, reason })
  })
  socket.onopen = () => socket.send(JSON.stringify({ type: "subscribe", businessId, token }))
  socket.onmessage = ({ data }) => frames.push(JSON.parse(String(data)))
  return { frames, closed }
}

describe("web and worker apart", () => {
  // Each purchase takes 3 s at this Twilio: long enough to stop a worker in the middle of one.
  const twilioApi = startFakeTwilio({ defaultStock: 10, purchaseMillis: 3_000 })
  const vapiApi = startFakeVapi({ assistants: [ASSISTANT] })
  const { database, services } = processSuite(twilioApi, vapiApi)

  it("a conversion through web A is seen on web B, done by a worker that hands over cleanly on SIGTERM", {
    timeout: 180_000
  }, async () => {
    const env = {
      DATABASE_URL: await databaseUrlOf(database),
      ...twilioApi.env,
      ...vapiApi.env,
      ...SECRETS,
      JOB_HEARTBEAT_SECONDS: "10",
      JOB_RETRY_DELAY_SECONDS: "1"
    }
    const start = (role: "web" | "worker") => {
      const port = freePort()
      const service = spawnService({ ...env, ROLE: role, PORT: String(port) })
      services.push(service)
      return { service, base: `http://127.0.0.1:${port}` }
    }
    const webA = start("web")
    const webB = start("web")
    const worker = start("worker")
    await Promise.all([untilReady(webA.base), untilReady(webB.base)])
    await eventually(
      async () => worker.service.output().includes("worker: taking jobs"),
      "the worker to start"
    )

    const sign = (claims: Parameters<typeof signToken>[1]) =>
      Effect.runPromise(signToken(Redacted.make(SECRETS.AUTH_SECRET), claims))
    const serviceToken = await sign({ role: "service" })
    const api = async (base: string, method: string, path: string, body?: unknown) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${serviceToken}`, "content-type": "application/json" },
        body: body === undefined ? null : JSON.stringify(body)
      })
      return { status: response.status, json: (await response.json()) as JsonObject }
    }
    const convertThroughA = async (name: string) => {
      const created = await api(webA.base, "POST", "/api/trials", {
        ownerEmail: `${name}@example.com`,
        ownerName: name,
        businessName: `${name}'s shop`,
        vapiAssistantId: ASSISTANT,
        requestedAreaCode: "415"
      })
      const trial = created.json.trial as { id: string; ownerId: string }
      const converted = await api(webA.base, "POST", `/api/trials/${trial.id}/convert`)
      expect(converted.status).toBe(202)
      return { businessId: (converted.json.business as { id: string }).id, ownerId: trial.ownerId }
    }
    const purchasesOf = (businessId: string) =>
      twilioApi.purchases().filter((p) => p.friendlyName === `business:${businessId}`)

    // 1. Converted through web A; the owner watches on web B; the worker buys.
    const first = await convertThroughA("ada")
    const owner = watch(webB.base, first.businessId, await sign({ role: "owner", sub: first.ownerId }))
    await eventually(
      async () => owner.frames.some((f) => f.type === "number.assigned"),
      "number.assigned on web B's socket",
      60_000
    )
    expect(owner.frames[0]).toMatchObject({ type: "subscribed", businessId: first.businessId })
    expect(purchasesOf(first.businessId)).toHaveLength(1)
    expect(worker.service.output()).toContain(first.businessId)
    expect(`${webA.service.output()}${webB.service.output()}`).not.toContain("assigned +1")

    // 2. SIGTERM to the worker while its purchase is out: the job finishes or is handed back; one purchase.
    const second = await convertThroughA("bob")
    await eventually(
      async () =>
        twilioApi
          .requests()
          .some((r) => r.method === "POST" && r.form.FriendlyName === `business:${second.businessId}`),
      "the second purchase request to reach Twilio",
      60_000
    )
    const exit = await worker.service.kill("SIGTERM")
    expect(exit, worker.service.output()).toBe(0)
    const successor = start("worker")
    await eventually(
      async () =>
        (await api(webA.base, "GET", `/api/businesses/${second.businessId}`)).json.business?.numberStatus ===
        "assigned",
      "the second business assigned",
      120_000
    )
    expect(purchasesOf(second.businessId)).toHaveLength(1)
    // Whoever finished it (the stopping worker, or its successor after a handover), it was bought once.
    expect(`${worker.service.output()}${successor.service.output()}`).toContain(second.businessId)

    // 3. SIGTERM to web B: the owner's socket is closed with 1001 and a reason, and B exits 0.
    const stopped = await webB.service.kill("SIGTERM")
    const close = await owner.closed
    expect([close.code, close.reason]).toEqual([GOING_AWAY, GOING_AWAY_REASON])
    expect(stopped, webB.service.output()).toBe(0)
  })
})
