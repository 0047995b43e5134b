// The dashboard in headless Chromium. The owner's: opened before the trial converts, it shows the business and
// then its number as soon as it is assigned, without a reload; a cancellation, the release and a reactivation
// are shown live, in words; when the server closes its socket, it reconnects and resumes where it left off
// (`since` its last offset), so an event it missed meanwhile is shown without a reload (and when the server cannot
// resume, it takes the state the server sends, and reads the calls once); it never polls. The
// operator's: counts by status, the numbers due for release (soonest first, past due highlighted) with a release
// now that works, the failed businesses, those pending for more than 10 minutes and those whose assistant is not
// connected, each with its reason and a retry that works. The token stays in sessionStorage only. Screenshots
// land in test-output/.
import { mkdirSync } from "node:fs"
import { resolve } from "node:path"
import { Duration, Fiber, Redacted } from "effect"
import type { Browser } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MemoryAssistantControl } from "../../../src/adapters/memory/MemoryAssistant.ts"
import { MemoryBroadcasterControl } from "../../../src/adapters/memory/MemoryBroadcaster.ts"
import { MemoryTelephonyControl } from "../../../src/adapters/memory/MemoryTelephony.ts"
import { GOING_AWAY, GOING_AWAY_REASON, relayEvents } from "../../../src/app/http/cable.ts"
import { launchChromium, recordCable } from "../../support/browser.ts"
import { makeTestApp, SETTINGS, trialBody } from "../../support/httpApp.ts"

/** How the page shows a North American number to its owner. */
const national = (e164: string) => e164.replace(/^\+1(\d{3})(\d{3})(\d{4})$/, "($1) $2-$3")
/** Pages read in en-US, in UTC, so that the dates they show can be checked here. */
const PAGE_LOCALE = { locale: "en-US", timezoneId: "UTC" }
const formatDate = (iso: string, options: Intl.DateTimeFormatOptions) =>
  new Intl.DateTimeFormat("en-US", { ...options, timeZone: "UTC" }).format(new Date(iso))

let t: Awaited<ReturnType<typeof makeTestApp>>
let browser: Browser
let relay: Fiber.Fiber<void, never>
let base = ""

beforeAll(async () => {
  // A purchase takes a moment, as with Twilio: the page shows "pending" before the number.
  t = await makeTestApp({ telephony: { inventory: { "212": 0 }, defaultStock: 5, latency: "700 millis" } })
  t.app.listen({ port: 0, hostname: "127.0.0.1" })
  base = `http://127.0.0.1:${t.app.server?.port}`
  relay = t.runtime.runFork(
    relayEvents(t.sockets, (topic, payload) => void t.app.server?.publish(topic, payload))
  )
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

  it("shows a cancellation, then the release, then the reactivation live, in words", {
    timeout: 60_000
  }, async () => {
    // (No jobsDone from here on: a cancellation leaves a release job waiting for its time.)
    const trial = (await t.call("POST", "/api/trials", { body: trialBody({ businessName: "Harbor Yoga" }) }))
      .json.trial
    const { id } = (await t.call("POST", `/api/trials/${trial.id}/convert`)).json.business
    const stored = async () => (await t.call("GET", `/api/businesses/${id}`)).json.business
    await expect.poll(async () => (await stored()).numberStatus, { timeout: 15_000 }).toBe("assigned")
    const number: string = (await stored()).phoneNumber.e164

    const token = await t.sign({ role: "owner", sub: trial.ownerId })
    const page = await browser.newPage(PAGE_LOCALE)
    await page.goto(`${base}/#token=${token}`)
    const card = page.locator(`section.card[data-business-id="${id}"]`)
    const field = (name: string) => card.locator(`[data-field="${name}"]`)
    await card.getByText("Call it now to talk to your receptionist.").waitFor({ timeout: 10_000 })
    await page.locator("#live").getByText("live").waitFor({ timeout: 10_000 })
    // A mark on this page: still there at the end, so nothing below came from a reload.
    await page.evaluate(() => Object.assign(window, { samePage: true }))
    expect(await page.evaluate(() => [sessionStorage.getItem("numbers-token"), localStorage.length])).toEqual(
      [token, 0]
    )

    // Cancelled: the number is kept until its release time, shown as a date; calls to it are not answered.
    const cancel = await t.call("POST", `/api/businesses/${id}/cancel`)
    expect(cancel.status).toBe(202)
    const releaseAt: string = cancel.json.business.releaseAt
    expect(releaseAt).toEqual(expect.any(String))
    const date = formatDate(releaseAt, { dateStyle: "long" })
    await expect
      .poll(() => field("detail").textContent(), { timeout: 10_000 })
      .toBe(`Your number ${national(number)} is kept until ${date}. Calls to it are not answered meanwhile.`)
    await card.getByText(`is kept until ${date}`).waitFor()
    expect(await field("detail").locator("time").getAttribute("datetime")).toBe(releaseAt)
    expect(await field("status").textContent()).toBe("cancelled")
    expect(await field("number").textContent()).toBe(national(number))

    // Released now: the page says which number went.
    expect((await t.call("POST", `/api/businesses/${id}/release`)).status).toBe(202)
    await expect
      .poll(() => field("detail").textContent(), { timeout: 15_000 })
      .toBe(`Your number ${national(number)} was released: it no longer answers calls.`)
    expect([await field("status").textContent(), await field("number").textContent()]).toEqual([
      "released",
      "No number"
    ])
    expect((await stored()).numberStatus).toBe("released")

    // Reactivated after the release: back on, a new number on its way, then the new number.
    const seen: Array<string> = []
    const watching = (async () => {
      const deadline = Date.now() + 20_000
      while (Date.now() < deadline && !/^Back on: call /.test(seen.at(-1) ?? "")) {
        const now = (await field("detail").textContent()) ?? ""
        if (seen.at(-1) !== now) seen.push(now)
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    })()
    const reactivate = await t.call("POST", `/api/businesses/${id}/reactivate`)
    expect([reactivate.status, reactivate.json.business.numberStatus]).toEqual([202, "pending"])
    await watching
    expect(seen).toContain("Back on: a new number is on its way.")
    const again = await stored()
    expect([again.status, again.numberStatus]).toEqual(["active", "assigned"])
    expect(seen.at(-1)).toBe(
      `Back on: call ${national(again.phoneNumber.e164)} to talk to your receptionist.`
    )
    await card.getByText("Back on").waitFor()
    expect(await field("number").textContent()).toBe(national(again.phoneNumber.e164))
    expect(await field("status").textContent()).toBe("assigned")
    expect(await page.evaluate(() => "samePage" in window)).toBe(true)

    const out = resolve(import.meta.dirname, "../../../test-output")
    mkdirSync(out, { recursive: true })
    await page.screenshot({ path: resolve(out, "dashboard-back-on.png"), fullPage: true })
  })

  it("resumes where it left off after the server closes its socket, without a reload; it never polls", {
    timeout: 60_000
  }, async () => {
    const trial = (await t.call("POST", "/api/trials", { body: trialBody({ businessName: "Pier Bakery" }) }))
      .json.trial
    const { id } = (await t.call("POST", `/api/trials/${trial.id}/convert`)).json.business
    const stored = async () => (await t.call("GET", `/api/businesses/${id}`)).json.business
    await expect.poll(async () => (await stored()).numberStatus, { timeout: 15_000 }).toBe("assigned")
    const number: string = (await stored()).phoneNumber.e164

    const token = await t.sign({ role: "owner", sub: trial.ownerId })
    const page = await browser.newPage(PAGE_LOCALE)
    const cable = recordCable(page)
    const asked: Array<string> = []
    page.on("request", (request) => asked.push(new URL(request.url()).pathname))
    // The page's timers run on Playwright's clock: paused below, so that the page waits exactly as long as told.
    await page.clock.install()
    await page.goto(`${base}/#token=${token}`)
    const card = page.locator(`section.card[data-business-id="${id}"]`)
    const field = (name: string) => card.locator(`[data-field="${name}"]`)
    await card.getByText("Call it now to talk to your receptionist.").waitFor({ timeout: 10_000 })
    await page.locator("#live").getByText("live").waitFor({ timeout: 10_000 })
    await page.evaluate(() => Object.assign(window, { samePage: true }))
    await expect.poll(() => cable[0]?.received.some((f) => f.type === "subscribed")).toBe(true)
    const [first] = cable
    if (!first) throw new Error("no socket")
    // The first subscription has no position to resume from: its state is the truth.
    expect(first.sent).toEqual([{ type: "subscribe", businessId: id, token }])
    const subscribed = first.received[0] as { offset: number; epoch: string; recovered?: boolean }
    expect(subscribed).toMatchObject({ type: "subscribed", businessId: id, numberStatus: "assigned" })
    expect(subscribed.recovered).toBeUndefined()
    // (The events of the assignment came before the page subscribed: none follows.)
    const offsets = first.received.map((f) => f.offset as number)
    const seen = Math.max(...offsets)

    // No polling: ten minutes of the page's time pass, and it asks the API nothing.
    await page.clock.pauseAt(Date.now() + 1_000)
    const before = asked.length
    await page.clock.runFor(10 * 60 * 1000)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(asked.slice(before)).toEqual([])
    expect(cable).toHaveLength(1)

    // The server closes the socket (as one that stops does). The page waits to reconnect (its clock is paused)
    // while the business is cancelled: an event it misses.
    t.sockets.closeAll(GOING_AWAY, GOING_AWAY_REASON)
    await page.locator("#live").getByText("reconnecting…").waitFor({ timeout: 10_000 })
    const cancel = await t.call("POST", `/api/businesses/${id}/cancel`)
    expect(cancel.status).toBe(202)
    const releaseAt: string = cancel.json.business.releaseAt
    expect(first.received.map((f) => f.type)).not.toContain("business.cancelled")
    // Within a jittered 0.25 to 0.75 s it reconnects, and resumes from the last offset it saw.
    await page.clock.runFor(1_000)
    await page.clock.resume()
    const date = formatDate(releaseAt, { dateStyle: "long" })
    await expect
      .poll(() => field("detail").textContent(), { timeout: 10_000 })
      .toBe(`Your number ${national(number)} is kept until ${date}. Calls to it are not answered meanwhile.`)
    expect(await field("status").textContent()).toBe("cancelled")
    await page.locator("#live").getByText("live").waitFor()

    const second = cable.filter((socket) => socket.sent.length > 0)[1]
    if (!second) throw new Error(`no second socket: ${JSON.stringify(cable)}`)
    expect(second.sent).toEqual([
      { type: "subscribe", businessId: id, token, since: { offset: seen, epoch: subscribed.epoch } }
    ])
    // Recovered: the state in `subscribed` is not needed; the event missed follows, once, in order.
    expect(second.received[0]).toMatchObject({
      type: "subscribed",
      businessId: id,
      recovered: true,
      offset: seen + 1,
      epoch: subscribed.epoch
    })
    expect(second.received.slice(1)).toEqual([
      expect.objectContaining({
        type: "business.cancelled",
        businessId: id,
        releaseAt,
        offset: seen + 1,
        epoch: subscribed.epoch
      })
    ])
    // Nothing was read again: the page only listened.
    expect(asked.slice(before)).toEqual([])
    expect(await page.evaluate(() => "samePage" in window)).toBe(true)
    expect(await page.evaluate(() => [sessionStorage.getItem("numbers-token"), localStorage.length])).toEqual(
      [token, 0]
    )
  })

  it("takes the server's state when a resume is refused (another epoch), then follows the new stream", {
    timeout: 60_000
  }, async () => {
    const trial = (
      await t.call("POST", "/api/trials", { body: trialBody({ businessName: "Reset Records" }) })
    ).json.trial
    const { id } = (await t.call("POST", `/api/trials/${trial.id}/convert`)).json.business
    const stored = async () => (await t.call("GET", `/api/businesses/${id}`)).json.business
    await expect.poll(async () => (await stored()).numberStatus, { timeout: 15_000 }).toBe("assigned")
    const number: string = (await stored()).phoneNumber.e164

    const token = await t.sign({ role: "owner", sub: trial.ownerId })
    const page = await browser.newPage(PAGE_LOCALE)
    const cable = recordCable(page)
    const asked: Array<string> = []
    page.on("request", (request) => asked.push(new URL(request.url()).pathname))
    await page.clock.install()
    await page.goto(`${base}/#token=${token}`)
    const card = page.locator(`section.card[data-business-id="${id}"]`)
    const field = (name: string) => card.locator(`[data-field="${name}"]`)
    await card.getByText("Call it now to talk to your receptionist.").waitFor({ timeout: 10_000 })
    await page.locator("#live").getByText("live").waitFor({ timeout: 10_000 })
    await expect.poll(() => cable[0]?.received.some((f) => f.type === "subscribed")).toBe(true)
    const before = cable[0]?.received[0] as { offset: number; epoch: string }
    await page.evaluate(() => Object.assign(window, { samePage: true }))
    await page.clock.pauseAt(Date.now() + 1_000)
    const read = asked.length

    // Away: the stream's history is lost (a new epoch), the business is cancelled and a call comes in.
    t.sockets.closeAll(GOING_AWAY, GOING_AWAY_REASON)
    await page.locator("#live").getByText("reconnecting…").waitFor({ timeout: 10_000 })
    await t.run(MemoryBroadcasterControl.use((control) => control.resetEpoch(id)))
    const cancel = await t.call("POST", `/api/businesses/${id}/cancel`)
    expect(cancel.status).toBe(202)
    const call = {
      id: "call-browser-away",
      assistantId: trial.vapiAssistantId,
      customer: { number: "+14155550177" }
    }
    const vapi = await t.call("POST", "/webhooks/vapi", {
      token: null,
      body: { message: { type: "status-update", status: "ended", endedReason: "customer-ended-call", call } },
      headers: { "x-vapi-secret": Redacted.value(SETTINGS.vapiWebhookSecret) }
    })
    expect(vapi.status).toBeLessThan(300)
    await page.clock.runFor(1_000)
    await page.clock.resume()

    // Not recovered: the state in `subscribed` is shown, and the calls (not in it) are read once.
    const releaseAt: string = cancel.json.business.releaseAt
    const date = formatDate(releaseAt, { dateStyle: "long" })
    await expect
      .poll(() => field("detail").textContent(), { timeout: 10_000 })
      .toBe(`Your number ${national(number)} is kept until ${date}. Calls to it are not answered meanwhile.`)
    await card.getByRole("cell", { name: "+14155550177" }).waitFor({ timeout: 10_000 })
    const second = cable.filter((socket) => socket.sent.length > 0)[1]
    if (!second) throw new Error(`no second socket: ${JSON.stringify(cable)}`)
    expect(second.sent).toEqual([
      { type: "subscribe", businessId: id, token, since: { offset: before.offset, epoch: before.epoch } }
    ])
    const refused = second.received[0] as { offset: number; epoch: string }
    expect(refused).toMatchObject({ type: "subscribed", recovered: false, status: "cancelled", releaseAt })
    expect(refused.epoch).not.toBe(before.epoch)
    expect(asked.slice(read)).toEqual([`/api/businesses/${id}/calls`])

    // The page follows the new stream: a later event, of the new epoch, is shown.
    expect((await t.call("POST", `/api/businesses/${id}/release`)).status).toBe(202)
    await expect
      .poll(() => field("detail").textContent(), { timeout: 15_000 })
      .toBe(`Your number ${national(number)} was released: it no longer answers calls.`)
    expect(second.received.at(-1)).toMatchObject({
      type: "number.released",
      epoch: refused.epoch,
      offset: refused.offset + 1
    })
    expect(await page.evaluate(() => "samePage" in window)).toBe(true)
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
      relayEvents(ops.sockets, (topic, payload) => void ops.app.server?.publish(topic, payload))
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

  it("lists the numbers due for release, soonest first, past due highlighted; release now releases", {
    timeout: 90_000
  }, async () => {
    // (No jobsDone here: a cancellation leaves a release job waiting for its time.)
    const stored = async (id: string) => (await ops.call("GET", `/api/businesses/${id}`)).json.business
    const convert = async (businessName: string, requestedAreaCode: string, numberStatus: string) => {
      const trial = (
        await ops.call("POST", "/api/trials", { body: trialBody({ businessName, requestedAreaCode }) })
      ).json.trial
      const { id } = (await ops.call("POST", `/api/trials/${trial.id}/convert`)).json.business
      await expect.poll(async () => (await stored(id)).numberStatus, { timeout: 15_000 }).toBe(numberStatus)
      return stored(id)
    }
    const cancel = async (id: string) => {
      const answer = await ops.call("POST", `/api/businesses/${id}/cancel`)
      expect(answer.status).toBe(202)
      return answer.json.business
    }
    // Two numbers bought a moment apart, cancelled in the other order: listed by release time, the first first.
    const first = await convert("Early Cafe", "646", "assigned")
    const second = await convert("Late Laundry", "718", "assigned")
    const secondReleaseAt: string = (await cancel(second.id)).releaseAt
    const firstReleaseAt: string = (await cancel(first.id)).releaseAt
    expect(Date.parse(firstReleaseAt)).toBeLessThan(Date.parse(secondReleaseAt))
    // A cancelled business with no number has nothing to release: not listed.
    const numberless = await convert("Numberless Nails", "212", "pending")
    expect((await cancel(numberless.id)).releaseAt).toBeNull()

    const token = await ops.sign({ role: "operator" })
    const page = await browser.newPage(PAGE_LOCALE)
    await page.goto(`${opsBase}/#token=${token}`)
    await page.getByRole("heading", { name: "Numbers: operator view" }).waitFor({ timeout: 10_000 })
    const due = page.locator('[data-list="due"]')
    const dueIds = () =>
      due
        .locator("tr[data-business-id]")
        .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-business-id")))
    const dueRow = (id: string) => due.locator(`tr[data-business-id="${id}"]`)
    const cell = (id: string, name: string) => dueRow(id).locator(`[data-field="${name}"]`)
    const highlighted = (id: string) => dueRow(id).evaluate((row) => row.classList.contains("overdue"))
    await expect.poll(dueIds, { timeout: 10_000 }).toEqual([first.id, second.id])
    await due.getByRole("heading", { name: "Numbers due for release" }).waitFor()
    for (const [business, releaseAt] of [
      [first, firstReleaseAt],
      [second, secondReleaseAt]
    ] as const) {
      expect(await cell(business.id, "name").textContent()).toBe(business.name)
      expect(await cell(business.id, "number").textContent()).toBe(business.phoneNumber.e164)
      const time = cell(business.id, "releaseAt").locator("time")
      expect(await time.getAttribute("datetime")).toBe(releaseAt)
      expect(await time.textContent()).toBe(
        formatDate(releaseAt, { dateStyle: "medium", timeStyle: "short" })
      )
      expect(await cell(business.id, "status").textContent()).toMatch(/^due in \d+ days$/)
      expect(await highlighted(business.id)).toBe(false)
      await dueRow(business.id).getByRole("button", { name: "Release now" }).waitFor()
    }
    await due.getByText(first.phoneNumber.e164).waitFor()
    const count = (status: string) => page.locator(`[data-count="${status}"]`)
    await expect.poll(() => count("released").textContent(), { timeout: 10_000 }).toBe("0")

    // The page's clock between the two release times: the first is past due (highlighted), the second not yet.
    await page.clock.setFixedTime((Date.parse(firstReleaseAt) + Date.parse(secondReleaseAt)) / 2)
    await page.reload()
    await page.getByRole("heading", { name: "Numbers: operator view" }).waitFor({ timeout: 10_000 })
    await expect.poll(dueIds, { timeout: 10_000 }).toEqual([first.id, second.id])
    expect(await highlighted(first.id)).toBe(true)
    expect(await cell(first.id, "status").textContent()).toMatch(/^past due by /)
    expect(await highlighted(second.id)).toBe(false)
    expect(await cell(second.id, "status").textContent()).toMatch(/^due in /)
    // Pending for weeks by the page's clock, but cancelled: nothing to retry, so not among what needs a person.
    await page.locator('[data-list="stuck"]').getByText("Waiting Bakery").waitFor()
    expect(await page.getByText("Numberless Nails").count()).toBe(0)
    expect(await page.evaluate(() => [sessionStorage.getItem("numbers-token"), localStorage.length])).toEqual(
      [token, 0]
    )
    const out = resolve(import.meta.dirname, "../../../test-output")
    mkdirSync(out, { recursive: true })
    await page.screenshot({ path: resolve(out, "dashboard-operator-due.png"), fullPage: true })

    // Release now: the row says it is released (keeping the number it had), and it is.
    await dueRow(first.id).getByRole("button", { name: "Release now" }).click()
    await expect.poll(() => cell(first.id, "status").textContent(), { timeout: 15_000 }).toBe("released")
    expect(await dueRow(first.id).getByRole("button").isHidden()).toBe(true)
    expect(await cell(first.id, "number").textContent()).toBe(first.phoneNumber.e164)
    const released = await stored(first.id)
    expect([released.status, released.numberStatus, released.phoneNumber]).toEqual([
      "cancelled",
      "released",
      null
    ])
    await expect.poll(() => count("released").textContent(), { timeout: 10_000 }).toBe("1")
    // The other one is untouched.
    expect(await cell(second.id, "status").textContent()).toMatch(/^due in /)
    expect((await stored(second.id)).numberStatus).toBe("assigned")

    // After a reload, only the second is due.
    await page.reload()
    await page.getByRole("heading", { name: "Numbers: operator view" }).waitFor({ timeout: 10_000 })
    await expect.poll(dueIds, { timeout: 10_000 }).toEqual([second.id])
    expect(await count("released").textContent()).toBe("1")
    await page.screenshot({ path: resolve(out, "dashboard-operator-released.png"), fullPage: true })
  })
})
