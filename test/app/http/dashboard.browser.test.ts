// The owner's dashboard in headless Chromium: opened before the trial converts, it shows the business and
// then its number as soon as it is assigned, without a reload. A screenshot lands in test-output/.
import { mkdirSync } from "node:fs"
import { resolve } from "node:path"
import { Fiber, Redacted } from "effect"
import { type Browser, chromium } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { relayEvents } from "../../../src/app/http/cable.ts"
import { makeTestApp, SETTINGS, trialBody } from "../../support/httpApp.ts"

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

let t: Awaited<ReturnType<typeof makeTestApp>>
let browser: Browser
let relay: Fiber.Fiber<void, never>
let base = ""

beforeAll(async () => {
  // A purchase takes a moment, as with Twilio: the page shows "pending" before the number.
  t = await makeTestApp({ telephony: { inventory: { "212": 0 }, defaultStock: 5, latency: "700 millis" } })
  t.app.listen({ port: 0, hostname: "127.0.0.1" })
  base = `http://127.0.0.1:${t.app.server?.port}`
  relay = t.runtime.runFork(relayEvents((topic, payload) => void t.app.server?.publish(topic, payload)))
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await t.runtime.runPromise(Fiber.interrupt(relay))
  await t.app.stop(true)
  await t.close()
})

describe("dashboard in a browser", () => {
  it("shows the number appear live after the trial converts", { timeout: 60_000 }, async () => {
    const trial = (
      await t.call("POST", "/api/trials", {
        body: trialBody({ businessName: "Golden Gate Dental", requestedAreaCode: "212" })
      })
    ).json.trial
    const token = await t.sign({ role: "owner", sub: trial.ownerId })
    const page = await browser.newPage()
    await page.goto(`${base}/#token=${token}`)
    await page.getByText("No business yet").waitFor({ timeout: 10_000 })
    expect(new URL(page.url()).hash).toBe("") // the token leaves the address bar

    await t.call("POST", `/api/trials/${trial.id}/convert`)
    const card = page.locator("section.card")
    await card.getByText("Golden Gate Dental").waitFor({ timeout: 10_000 })
    const numberLocator = card.locator('[data-field="number"]')
    await expect
      .poll(() => numberLocator.textContent(), { timeout: 15_000 })
      .toMatch(/^\(\d{3}\) \d{3}-\d{4}$/)
    const stored = (
      await t.call(
        "GET",
        `/api/businesses/${(await t.call("GET", "/api/businesses", { token })).json.businesses[0].id}`
      )
    ).json.business
    const shown = await numberLocator.textContent()
    expect(shown).toBe(stored.phoneNumber.e164.replace(/^\+1(\d{3})(\d{3})(\d{4})$/, "($1) $2-$3"))
    expect(await card.locator('[data-field="status"]').textContent()).toBe("assigned")
    expect(await page.locator("#live").textContent()).toBe("live")
    await card.getByText("No calls yet.").waitFor()

    // A call comes in: Vapi reports it, and its row appears live.
    const vapi = (message: unknown) =>
      t.call("POST", "/webhooks/vapi", {
        token: null,
        body: { message },
        headers: { "x-vapi-secret": Redacted.value(SETTINGS.vapiWebhookSecret) }
      })
    const call = {
      id: "call-browser-1",
      assistantId: trial.vapiAssistantId,
      customer: { number: "+14155550142" }
    }
    await vapi({ type: "status-update", status: "in-progress", call })
    await card.getByRole("cell", { name: "+14155550142" }).waitFor({ timeout: 10_000 })
    await vapi({ type: "status-update", status: "ended", endedReason: "customer-ended-call", call })
    await card.getByRole("cell", { name: "customer-ended-call" }).waitFor({ timeout: 10_000 })

    const out = resolve(import.meta.dirname, "../../../test-output")
    mkdirSync(out, { recursive: true })
    await page.screenshot({ path: resolve(out, "dashboard.png"), fullPage: true })
  })
})
