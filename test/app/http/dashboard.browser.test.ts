// The dashboard in headless Chromium. The owner's: opened before the trial converts, it shows the business and
// then its number as soon as it is assigned, without a reload. The operator's: counts by status, the failed
// businesses, those pending for more than 10 minutes and those whose assistant is not connected, each with its
// reason and a retry that works. The token stays in sessionStorage only. Screenshots land in test-output/.
import { mkdirSync } from "node:fs"
import { resolve } from "node:path"
import { Duration, Fiber, Redacted } from "effect"
import type { Browser } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MemoryAssistantControl } from "../../../src/adapters/memory/MemoryAssistant.ts"
import { MemoryTelephonyControl } from "../../../src/adapters/memory/MemoryTelephony.ts"
import { relayEvents } from "../../../src/app/http/cable.ts"
import { launchChromium } from "../../support/browser.ts"
import { makeTestApp, SETTINGS, trialBody } from "../../support/httpApp.ts"

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
  browser = await launchChromium()
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
    // It is kept for this tab only: sessionStorage, never localStorage.
    expect(await page.evaluate(() => [sessionStorage.getItem("numbers-token"), localStorage.length])).toEqual(
      [token, 0]
    )

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

describe("the operator's dashboard in a browser", () => {
  let ops: Awaited<ReturnType<typeof makeTestApp>>
  let opsRelay: Fiber.Fiber<void, never>
  let opsBase = ""

  beforeAll(async () => {
    // Only 415 has numbers, and nothing falls back: a trial asking for 212 waits an hour for stock (pending).
    // A refused purchase may be tried again at once (no settle time), as once an operator has fixed the account.
    // A purchase takes a moment, so the retried business is seen pending before it is assigned.
    ops = await makeTestApp({
      telephony: { inventory: { "212": 0 }, defaultStock: 5, latency: "500 millis" },
      settings: {
        fallbackAreaCodes: [],
        stockChurnRetries: 1,
        stockChurnSpacing: Duration.hours(1),
        purchaseSettle: Duration.zero
      }
    })
    ops.app.listen({ port: 0, hostname: "127.0.0.1" })
    opsBase = `http://127.0.0.1:${ops.app.server?.port}`
    opsRelay = ops.runtime.runFork(
      relayEvents((topic, payload) => void ops.app.server?.publish(topic, payload))
    )
  }, 60_000)

  afterAll(async () => {
    await ops.runtime.runPromise(Fiber.interrupt(opsRelay))
    await ops.app.stop(true)
    await ops.close()
  })

  it("shows counts and what needs a person, with reasons; a retry makes it pending, then assigned", {
    timeout: 90_000
  }, async () => {
    const convert = async (businessName: string, requestedAreaCode = "415") => {
      const trial = (
        await ops.call("POST", "/api/trials", { body: trialBody({ businessName, requestedAreaCode }) })
      ).json.trial
      return (await ops.call("POST", `/api/trials/${trial.id}/convert`)).json.business
    }
    // Twilio refuses the first purchase (failed), Vapi refuses to point an assistant (assistant failed), one
    // business is fine, and one waits for 212 stock (pending, younger than 10 minutes when the page opens).
    await ops.run(
      MemoryTelephonyControl.use((c) => c.injectFaults([{ _tag: "rejected", operation: "purchase" }]))
    )
    const failed = await convert("Rejected Plumbing")
    await ops.jobsDone()
    await ops.run(MemoryAssistantControl.use((c) => c.injectFaults([{ _tag: "rejected" }])))
    const assistantDown = await convert("Silent Salon")
    await ops.jobsDone()
    await convert("Fine Florist")
    await ops.jobsDone()
    const waiting = await convert("Waiting Bakery", "212")
    await expect
      .poll(async () => (await ops.call("GET", `/api/businesses/${waiting.id}`)).json.business.numberStatus)
      .toBe("pending")

    const token = await ops.sign({ role: "operator" })
    const page = await browser.newPage()
    await page.goto(`${opsBase}/#token=${token}`)
    await page.getByRole("heading", { name: "Numbers: operator view" }).waitFor({ timeout: 10_000 })
    expect(new URL(page.url()).hash).toBe("")
    expect(await page.evaluate(() => [sessionStorage.getItem("numbers-token"), localStorage.length])).toEqual(
      [token, 0]
    )
    const count = (status: string) => page.locator(`[data-count="${status}"]`)
    await expect.poll(() => count("failed").textContent(), { timeout: 10_000 }).toBe("1")
    expect([await count("pending").textContent(), await count("assigned").textContent()]).toEqual(["1", "2"])

    const list = (name: string) => page.locator(`[data-list="${name}"]`)
    const row = (id: string) => page.locator(`tr[data-business-id="${id}"]`)
    const failedRow = list("failed").locator(`tr[data-business-id="${failed.id}"]`)
    await failedRow.waitFor({ timeout: 10_000 })
    expect(await failedRow.locator('[data-field="name"]').textContent()).toBe("Rejected Plumbing")
    expect(await failedRow.locator('[data-field="status"]').textContent()).toBe("failed")
    expect(await failedRow.locator('[data-field="reason"]').textContent()).toBe("telephony_rejected")
    const downRow = list("assistant").locator(`tr[data-business-id="${assistantDown.id}"]`)
    await downRow.waitFor()
    expect(await downRow.locator('[data-field="reason"]').textContent()).toBe("assistant_rejected")
    expect(await downRow.locator('[data-field="status"]').textContent()).toBe("assistant failed")
    // Pending for less than 10 minutes is not a problem yet; healthy businesses are not listed at all.
    expect(await list("stuck").textContent()).toContain("None.")
    expect(await page.locator("tr[data-business-id]").count()).toBe(2)

    const out = resolve(import.meta.dirname, "../../../test-output")
    mkdirSync(out, { recursive: true })
    await page.screenshot({ path: resolve(out, "dashboard-operator.png"), fullPage: true })

    // Retry the failed one: Twilio sells this time. The row goes to pending, then assigned, live.
    const statuses: Array<string> = []
    const status = failedRow.locator('[data-field="status"]')
    const watching = (async () => {
      for (let i = 0; i < 200 && statuses.at(-1) !== "assigned"; i++) {
        const now = (await status.textContent()) ?? ""
        if (statuses.at(-1) !== now) statuses.push(now)
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    })()
    await failedRow.getByRole("button", { name: "Retry" }).click()
    await watching
    // (Between its number and its assistant being pointed at us, it is "assistant pending" for a moment.)
    expect(statuses.slice(0, 2)).toEqual(["failed", "pending"])
    expect(statuses.at(-1)).toBe("assigned")
    expect(
      statuses.filter((s) => !["failed", "pending", "assistant pending", "assigned"].includes(s))
    ).toEqual([])
    await expect
      .poll(() => failedRow.locator('[data-field="reason"]').textContent(), { timeout: 15_000 })
      .toMatch(/^number \+1415\d{7}, assistant connected$/)
    expect(await failedRow.getByRole("button").isHidden()).toBe(true)
    const stored = (await ops.call("GET", `/api/businesses/${failed.id}`)).json.business
    expect([stored.numberStatus, stored.assistantStatus]).toEqual(["assigned", "connected"])
    await expect.poll(() => count("failed").textContent(), { timeout: 10_000 }).toBe("0")
    expect(await count("assigned").textContent()).toBe("3")

    // Retry the silent assistant: pointed again, connected.
    await downRow.getByRole("button", { name: "Retry" }).click()
    await expect
      .poll(() => downRow.locator('[data-field="status"]').textContent(), { timeout: 15_000 })
      .toBe("assigned")

    // Ten minutes on (the page's clock; the business's updatedAt stays), the waiting one needs a person too.
    await page.clock.setFixedTime(Date.now() + 11 * 60 * 1000)
    await page.reload()
    await page.getByRole("heading", { name: "Numbers: operator view" }).waitFor({ timeout: 10_000 })
    const waitingRow = list("stuck").locator(`tr[data-business-id="${waiting.id}"]`)
    await waitingRow.waitFor({ timeout: 10_000 })
    expect(await waitingRow.locator('[data-field="reason"]').textContent()).toBe("no number yet")
    expect(await waitingRow.locator('[data-field="since"]').textContent()).toMatch(/^1[01] min$/)
    // The fixed ones are gone from the lists after the reload; the token came from sessionStorage.
    expect(await row(failed.id).count()).toBe(0)
    expect(await row(assistantDown.id).count()).toBe(0)
    await expect.poll(() => count("failed").textContent(), { timeout: 10_000 }).toBe("0")
    expect([await count("pending").textContent(), await count("assigned").textContent()]).toEqual(["1", "3"])

    await page.screenshot({ path: resolve(out, "dashboard-operator-later.png"), fullPage: true })
  })
})
