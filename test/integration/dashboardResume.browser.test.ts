// The owner's dashboard in Chromium across a restart of the web process. The service runs as processes on
// Postgres: a web process serves the page and its socket; the owner opens the dashboard while the business waits
// for its number. The web process stops (SIGTERM: the socket is closed with 1001); while no web process runs, a
// worker assigns the number (its number.assigned is committed with nobody listening); the service is started
// again (ROLE=all) on the same port. The page, never reloaded, reconnects with backoff, resumes `since` the last
// offset it saw (the server answers `recovered: true` and sends the missed event), and shows the number.
import { Effect, Redacted } from "effect"
import type { Browser } from "playwright-core"
import { afterAll, describe, expect, it } from "vitest"
import { signToken } from "../../src/app/http/auth.ts"
import type { BusinessId } from "../../src/domain/ids.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { type CableFrame, launchChromium, recordCable } from "../support/browser.ts"
import { startFakeTwilio } from "../support/fakeTwilio.ts"
import { startFakeVapi } from "../support/fakeVapi.ts"
import type { JsonObject } from "../support/httpApp.ts"
import { eventually, freePort, spawnService, untilReady } from "../support/processes.ts"
import { databaseUrlOf, processSuite, SECRETS } from "../support/processStack.ts"

const ASSISTANT = "5f0a2c1e-7b3d-4c1a-9e2f-0000000d5b0a"

/** How the page shows a North American number to its owner. */
const national = (e164: string) => e164.replace(/^\+1(\d{3})(\d{3})(\d{4})$/, "($1) $2-$3")

describe("the owner's dashboard across a restart of the web process", () => {
  const twilioApi = startFakeTwilio({ defaultStock: 5, purchaseMillis: 300 })
  const vapiApi = startFakeVapi({ assistants: [ASSISTANT] })
  const { database, services } = processSuite(twilioApi, vapiApi)
  let browser: Browser | undefined
  afterAll(async () => {
    await browser?.close()
  })

  it("reconnects, resumes since its last offset and shows the number assigned while no web process ran", {
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
    // The web process's port, the same before and after the restart: the page knows no other.
    const port = freePort()
    const base = `http://127.0.0.1:${port}`
    const start = (role: "web" | "worker" | "all") => {
      const service = spawnService({
        ...env,
        ROLE: role,
        PORT: String(role === "worker" ? freePort() : port)
      })
      services.push(service)
      return service
    }
    const sign = (claims: Parameters<typeof signToken>[1]) =>
      Effect.runPromise(signToken(Redacted.make(SECRETS.AUTH_SECRET), claims))
    const serviceToken = await sign({ role: "service" })
    const api = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${serviceToken}`, "content-type": "application/json" },
        body: body === undefined ? null : JSON.stringify(body)
      })
      return { status: response.status, json: (await response.json()) as JsonObject }
    }

    // 1. A web process, and no worker yet: the conversion is accepted, its number waits.
    const web = start("web")
    await untilReady(base)
    const created = await api("POST", "/api/trials", {
      ownerEmail: "rae@example.com",
      ownerName: "Rae",
      businessName: "Rae's Ramen",
      vapiAssistantId: ASSISTANT,
      requestedAreaCode: "415"
    })
    expect(created.status).toBe(201)
    const trial = created.json.trial as { id: string; ownerId: string }
    const converted = await api("POST", `/api/trials/${trial.id}/convert`)
    expect(converted.status).toBe(202)
    const businessId = (converted.json.business as { id: string }).id
    const ownerToken = await sign({ role: "owner", sub: trial.ownerId })

    // 2. The owner's dashboard: the business, still getting its number, live.
    browser = await launchChromium()
    const page = await browser.newPage()
    const cable = recordCable(page)
    await page.goto(`${base}/#token=${ownerToken}`)
    const card = page.locator(`section.card[data-business-id="${businessId}"]`)
    const field = (name: string) => card.locator(`[data-field="${name}"]`)
    await card.getByText("Rae's Ramen").waitFor({ timeout: 15_000 })
    await page.locator("#live").getByText("live").waitFor({ timeout: 15_000 })
    await expect
      .poll(() => cable[0]?.received.some((f) => f.type === "subscribed"), { timeout: 15_000 })
      .toBe(true)
    expect([await field("status").textContent(), await field("number").textContent()]).toEqual([
      "pending",
      "Getting your number…"
    ])
    // A mark on this page: still there at the end, so nothing below came from a reload.
    await page.evaluate(() => Object.assign(window, { samePage: true }))
    const subscribed = cable[0]?.received[0] as { offset: number; epoch: string }
    expect(subscribed).toMatchObject({ type: "subscribed", businessId, numberStatus: "pending" })
    expect(subscribed).not.toHaveProperty("recovered")
    const seen = Math.max(...(cable[0]?.received.map((f) => f.offset as number) ?? []))

    // 3. The web process stops: the page's socket is closed (1001), and it keeps trying to reconnect.
    expect(await web.kill("SIGTERM"), web.output()).toBe(0)
    await page.locator("#live").getByText("reconnecting…").waitFor({ timeout: 15_000 })

    // 4. While no web process runs, a worker assigns the number: number.assigned is committed, nobody listening.
    const worker = start("worker")
    const stored = () => database.runPromise(Repository.use((r) => r.findBusiness(businessId as BusinessId)))
    await eventually(async () => (await stored())?.numberStatus === "assigned", "the number assigned", 90_000)
    const e164 = (await stored())?.phoneNumber?.e164 ?? ""
    expect(e164).toMatch(/^\+1415\d{7}$/)
    expect(await worker.kill("SIGTERM"), worker.output()).toBe(0)
    expect(await field("number").textContent()).toBe("Getting your number…")

    // 5. The service again, on the same port: the page reconnects by itself and shows the number.
    start("all")
    await untilReady(base)
    await expect.poll(() => field("number").textContent(), { timeout: 45_000 }).toBe(national(e164))
    expect(await field("status").textContent()).toBe("assigned")
    await page.locator("#live").getByText("live").waitFor()
    expect(await page.evaluate(() => "samePage" in window)).toBe(true)

    // It resumed: its subscription carried the last offset and epoch it saw; the server could give every event
    // after it (`recovered: true`), and sent the missed ones, in order, from the next offset on, once each.
    const resumed = cable.find((socket) => socket.received.some((f) => f.type === "number.assigned"))
    if (!resumed) throw new Error(`no socket received number.assigned: ${JSON.stringify(cable)}`)
    expect(resumed.sent).toEqual([
      {
        type: "subscribe",
        businessId,
        token: ownerToken,
        since: { offset: seen, epoch: subscribed.epoch }
      }
    ])
    const [answer, ...events] = resumed.received as [CableFrame, ...Array<CableFrame>]
    expect(answer).toMatchObject({ type: "subscribed", businessId, recovered: true, epoch: subscribed.epoch })
    expect(events.map((e) => e.offset)).toEqual(events.map((_, i) => seen + 1 + i))
    expect(events.every((e) => e.epoch === subscribed.epoch && e.businessId === businessId)).toBe(true)
    expect(events).toContainEqual(expect.objectContaining({ type: "number.assigned", phoneNumber: e164 }))
    // Every socket before it that subscribed resumed from the same place (the state never went back).
    for (const socket of cable.filter((s) => s.sent.length > 0 && s !== cable[0])) {
      expect(socket.sent[0]).toMatchObject({ since: { epoch: subscribed.epoch } })
    }
  })
})
