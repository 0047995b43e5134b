// The "Number assigned" email as its owner sees it: rendered (MJML) and opened in headless Chromium on a phone
// (375 px) and a desktop (1280 px), in light and dark mode. Screenshots land in test-output/.
import { mkdirSync } from "node:fs"
import { resolve } from "node:path"
import type { Browser, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { numberAssignedEmail } from "../../../../src/app/usecases/email/numberAssignedEmail.ts"
import type { MailMessage } from "../../../../src/ports/Mailer.ts"
import { launchChromium } from "../../../support/browser.ts"
import { assignedBusinessValues } from "../../../support/fixtures.ts"

const OUT = resolve(import.meta.dirname, "../../../../test-output")
const APP_URL = "https://numbers.example.com"
const DASHBOARD = "https://numbers.example.com/"

const render = (businessName: string, ownerName = "Joe") =>
  numberAssignedEmail({ ...assignedBusinessValues(businessName, ownerName), appUrl: APP_URL })

const luminance = (css: string): number => {
  const channels = (css.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number)
  expect(channels).toHaveLength(3)
  const [r = 0, g = 0, b = 0] = channels.map((c) => {
    const s = c / 255
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4
  })
  return 0.2126 * r + 0.7152 * g + 0.0722 * b
}
const contrast = (a: string, b: string): number => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x)
  return ((hi ?? 0) + 0.05) / ((lo ?? 0) + 0.05)
}

/** The number link's text colour and the colour actually behind it (the nearest opaque background). */
const numberColours = (page: Page) =>
  page.locator('a[href^="tel:"]').evaluate((link) => {
    let node: Element | null = link
    while (node) {
      const background = getComputedStyle(node).backgroundColor
      if (background !== "transparent" && !/^rgba\(.*,\s*0\)$/.test(background)) {
        return { text: getComputedStyle(link).color, background }
      }
      node = node.parentElement
    }
    return { text: getComputedStyle(link).color, background: "none" }
  })

const NAME = "Joe's Plumbing & Heating"
let browser: Browser
let email: MailMessage

beforeAll(async () => {
  email = await render(NAME)
  mkdirSync(OUT, { recursive: true })
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
})

const open = async (html: string, width: number) => {
  const page = await browser.newPage({ viewport: { width, height: 800 } })
  // No network: the email must not depend on remote fonts or images.
  await page.route("**/*", (route) => route.abort())
  await page.setContent(html, { waitUntil: "load" })
  return page
}

describe("Number assigned email: subject and text part", () => {
  it("keeps the contract: the number in the subject; number, business, how to test it, dashboard in the text", () => {
    expect(email.to).toBe("joe@example.com")
    expect(email.subject).toBe("Your new phone number: (415) 555-0123")
    expect(email.text).toContain("Hello Joe,")
    expect(email.text).toContain(`${NAME} has its own phone number: (415) 555-0123 (+14155550123).`)
    expect(email.text).toContain("Try it now: call the number from your phone and talk to your receptionist.")
    expect(email.text).toContain("put it on your website and your Google Business Profile")
    expect(email.text).toContain(`Watch calls as they happen on your dashboard: ${DASHBOARD}`)
    expect(email.text).not.toContain("&#")
  })

  it("HTML is MJML's (responsive tables, Outlook conditionals) and declares both colour schemes", () => {
    expect(email.html).toContain("<!--[if mso | IE]>")
    expect(email.html).toContain('<meta name="color-scheme" content="light dark">')
    expect(email.html).toContain('<meta name="supported-color-schemes" content="light dark">')
    expect(email.html).toContain("@media (prefers-color-scheme: dark)")
    expect(email.html).not.toMatch(/<img\b/) // no text baked into images
    expect(email.html).not.toContain("fonts.googleapis.com")
  })
})

describe("Number assigned email in a browser", () => {
  it("on a phone (375 px): the number is large and calls tel:+1..., the button opens the dashboard, no sideways scroll", async () => {
    const page = await open(email.html, 375)
    const link = page.getByRole("link", { name: "(415) 555-0123" })
    expect(await link.isVisible()).toBe(true)
    expect(await link.getAttribute("href")).toBe("tel:+14155550123")
    const box = await link.boundingBox()
    expect(box?.height).toBeGreaterThanOrEqual(44) // a comfortable tap target
    expect(box && box.x + box.width).toBeLessThanOrEqual(375)
    expect(
      Number.parseFloat(await link.evaluate((a) => getComputedStyle(a).fontSize))
    ).toBeGreaterThanOrEqual(28)

    const button = page.getByRole("link", { name: "Open your dashboard" })
    expect(await button.isVisible()).toBe(true)
    expect(await button.getAttribute("href")).toBe(DASHBOARD)

    expect(await page.getByText(NAME, { exact: true }).first().isVisible()).toBe(true)
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375)
    await page.screenshot({ path: resolve(OUT, "email-375.png"), fullPage: true })
    await page.close()
  })

  it("on a desktop (1280 px): the same number link and dashboard button, centred in a 600 px column", async () => {
    const page = await open(email.html, 1280)
    const link = page.getByRole("link", { name: "(415) 555-0123" })
    expect(await link.isVisible()).toBe(true)
    expect(await link.getAttribute("href")).toBe("tel:+14155550123")
    const button = page.getByRole("link", { name: "Open your dashboard" })
    expect(await button.getAttribute("href")).toBe(DASHBOARD)
    const card = await page.locator(".card").boundingBox()
    expect(card?.width).toBe(600)
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280)
    await page.screenshot({ path: resolve(OUT, "email-1280.png"), fullPage: true })
    await page.close()
  })

  it("in light and dark mode the number's colour contrasts with what is behind it (>= 4.5:1)", async () => {
    const page = await open(email.html, 375)
    const light = await numberColours(page)
    expect(contrast(light.text, light.background)).toBeGreaterThanOrEqual(4.5)

    await page.emulateMedia({ colorScheme: "dark" })
    const dark = await numberColours(page)
    expect(dark.background).not.toBe(light.background) // the dark palette applies
    expect(luminance(dark.background)).toBeLessThan(0.05)
    expect(contrast(dark.text, dark.background)).toBeGreaterThanOrEqual(4.5)
    // The body copy, too.
    const copy = await page
      .getByText("Calls to it are answered by your AI receptionist.")
      .evaluate((el) => getComputedStyle(el).color)
    expect(contrast(copy, dark.background)).toBeGreaterThanOrEqual(4.5)
    await page.screenshot({ path: resolve(OUT, "email-375-dark.png"), fullPage: true })
    await page.close()
  })

  it("escapes the business and owner names: markup in them shows as text and runs nothing", async () => {
    const hostile = `<script>window.pwned=1</script><img src=x onerror="window.pwned=1"> & "Sons" 'Co' <mj-raw>`
    const hostileEmail = await render(hostile, `Ann <b>"the boss"</b>`)
    expect(hostileEmail.html).not.toContain("<script>window.pwned")
    expect(hostileEmail.html).not.toContain("<img src=x")
    expect(hostileEmail.html).toContain("&#60;script&#62;window.pwned=1&#60;/script&#62;")
    expect(hostileEmail.html).toContain("&#38; &#34;Sons&#34; &#39;Co&#39; &#60;mj-raw&#62;")
    expect(hostileEmail.text).toContain(`${hostile} has its own phone number`)
    expect(hostileEmail.subject).toBe("Your new phone number: (415) 555-0123")

    const page = await open(hostileEmail.html, 375)
    expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined()
    expect(await page.locator("script, img, b").count()).toBe(0)
    expect(await page.locator("strong").first().textContent()).toBe(hostile)
    expect(await page.getByText(`Hello Ann <b>"the boss"</b>,`).isVisible()).toBe(true)
    expect(await page.title()).toBe("Your new phone number: (415) 555-0123")
    await page.close()
  })

  it("a long business name wraps instead of widening the phone layout", async () => {
    const page = await open((await render(`Bay Area Emergency Plumbing${"&Drain".repeat(12)}`)).html, 375)
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375)
    await page.close()
  })
})
