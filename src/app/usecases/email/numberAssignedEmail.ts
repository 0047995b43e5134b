// The "Number assigned" email: one message, an HTML and a plain-text part saying the same thing. The HTML is
// rendered from MJML (responsive tables that hold up in Outlook and Gmail); docs/DECISIONS.md, "Email".
import type { Business, PhoneNumber, User } from "../../../domain/entities.ts"
import { formatNational } from "../../../domain/phone.ts"
import type { MailMessage } from "../../../ports/Mailer.ts"

/** Every interpolated value goes through this, in text and in attributes alike (MJML keeps entities as written). */
const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const SERVICE = "Numbers"

// Colours chosen to read in both schemes: the light ones are the defaults (inlined), the dark ones apply under
// prefers-color-scheme (Apple Mail, iOS, Outlook for Mac) and Outlook.com's [data-ogsc]/[data-ogsb] hooks.
// Clients that invert colours themselves (Gmail apps) get a light design with no text baked into images.
const LIGHT = {
  page: "#f3f4f6",
  card: "#ffffff",
  text: "#1f2937",
  muted: "#4b5563",
  number: "#1d4ed8",
  buttonBg: "#1d4ed8",
  buttonText: "#ffffff"
}
const DARK = { page: "#111827", card: "#1f2937", text: "#f3f4f6", muted: "#d1d5db", number: "#93c5fd" }
const FONT = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"

const darkCss = (scope: string) => `
${scope} .page, ${scope} .page > div { background-color: ${DARK.page} !important; }
${scope} .card, ${scope} .card > table, ${scope} .card > table > tbody > tr > td { background-color: ${DARK.card} !important; }
${scope} .copy div { color: ${DARK.text} !important; }
${scope} .muted div { color: ${DARK.muted} !important; }
${scope} .number a { color: ${DARK.number} !important; }`

/** The values an email differs by, each HTML-escaped. */
export interface EmailSlots {
  readonly subject: string
  /** The inbox preview line, trimmed as MJML trims it. */
  readonly preview: string
  readonly greeting: string
  readonly name: string
  readonly number: string
  readonly tel: string
  readonly dashboard: string
}

/** The email's MJML source. Exported for the test that renders it whole and compares with the compiled template. */
export const numberAssignedMjml = (slots: EmailSlots): string => `<mjml lang="en">
  <mj-head>
    <mj-title>${slots.subject}</mj-title>
    <mj-preview>${slots.preview}</mj-preview>
    <mj-raw>
      <meta name="color-scheme" content="light dark">
      <meta name="supported-color-schemes" content="light dark">
    </mj-raw>
    <mj-attributes>
      <mj-all font-family="${FONT}" />
      <mj-text color="${LIGHT.text}" font-size="16px" line-height="24px" padding="8px 24px" />
    </mj-attributes>
    <mj-style>
      :root { color-scheme: light dark; supported-color-schemes: light dark; }
      @media (prefers-color-scheme: dark) {${darkCss("")}
      }${darkCss("[data-ogsc]")}${darkCss("[data-ogsb]")}
    </mj-style>
  </mj-head>
  <mj-body background-color="${LIGHT.page}" css-class="page" width="600px">
    <mj-section padding="24px 0 8px">
      <mj-column>
        <mj-text css-class="muted" color="${LIGHT.muted}" font-size="14px" font-weight="700" letter-spacing="1px">${SERVICE.toUpperCase()}</mj-text>
      </mj-column>
    </mj-section>
    <mj-section background-color="${LIGHT.card}" css-class="card" border-radius="12px" padding="16px 0">
      <mj-column>
        <mj-text css-class="copy">${slots.greeting},</mj-text>
        <mj-text css-class="copy"><strong>${slots.name}</strong> has its own phone number:</mj-text>
        <mj-text css-class="number" align="center" padding="4px 16px"><a href="${slots.tel}" style="display: inline-block; padding: 8px 4px; color: ${LIGHT.number}; font-size: 34px; line-height: 44px; font-weight: 700; text-decoration: none; white-space: nowrap;">${slots.number}</a></mj-text>
        <mj-text css-class="copy">Calls to it are answered by your AI receptionist.</mj-text>
        <mj-text css-class="copy" font-size="18px" font-weight="700" padding="16px 24px 0">Next steps</mj-text>
        <mj-text css-class="copy">
          <ol style="margin: 0; padding: 0 0 0 24px;">
            <li style="margin: 0 0 8px;"><strong>Try it now:</strong> call ${slots.number} from your phone and talk to your receptionist.</li>
            <li style="margin: 0;"><strong>Share it:</strong> put it on your website and your Google Business Profile, so customers call it.</li>
          </ol>
        </mj-text>
        <mj-button href="${slots.dashboard}" background-color="${LIGHT.buttonBg}" color="${LIGHT.buttonText}" font-size="16px" font-weight="700" border-radius="8px" inner-padding="14px 28px" padding="16px 24px 8px">Open your dashboard</mj-button>
        <mj-text css-class="copy" align="center" font-size="14px">Watch calls as they happen on your dashboard.</mj-text>
      </mj-column>
    </mj-section>
    <mj-section padding="16px 0 32px">
      <mj-column>
        <mj-text css-class="muted" color="${LIGHT.muted}" font-size="13px" line-height="20px" align="center">You are getting this email because you own ${slots.name} on ${SERVICE}: its trial converted and we assigned it this phone number.</mj-text>
        <mj-text css-class="muted" color="${LIGHT.muted}" font-size="13px" line-height="20px" align="center">${SERVICE}, the AI receptionist that answers your business's phone.</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>`

/** MJML to HTML; strict: a template error throws instead of rendering a broken email; no web fonts, no comments. */
export const renderMjml = async (mjml: string): Promise<string> => {
  // Loaded on first use (the runtime caches it): importing mjml takes about 350 ms, which the processes and
  // tests that never send this email should not pay at start.
  const { default: mjml2html } = await import("mjml")
  const { html } = await mjml2html(mjml, { validationLevel: "strict", fonts: {}, keepComments: false })
  return html
}

// MJML renders text and attribute values as written, so the HTML is rendered once with a marker in each slot and
// every email fills the markers in: rendering it whole took 1.6 ms (3 ms of CPU) and about 0.2 MB of garbage an
// email (docs/BENCHMARKS.md section 8). A test renders random values both ways and requires the same HTML.
const SLOT_NAMES = [
  "subject",
  "preview",
  "greeting",
  "name",
  "number",
  "tel",
  "dashboard"
] as const satisfies ReadonlyArray<keyof EmailSlots>
const marker = (slot: keyof EmailSlots) => `numbersslot${slot}numbersslot`
const MARKERS = new RegExp(`numbersslot(${SLOT_NAMES.join("|")})numbersslot`)

interface CompiledEmail {
  readonly fill: (slots: EmailSlots) => string
}

const compile = async (): Promise<CompiledEmail> => {
  const markers = Object.fromEntries(SLOT_NAMES.map((slot) => [slot, marker(slot)])) as unknown as EmailSlots
  // split with a capturing group: literal, slot name, literal, slot name, ..., literal
  const parts = (await renderMjml(numberAssignedMjml(markers))).split(MARKERS)
  for (const slot of SLOT_NAMES) {
    if (!parts.some((part, i) => i % 2 === 1 && part === slot))
      throw new Error(`MJML dropped the ${slot} slot`)
  }
  return {
    fill: (slots) => {
      let html = ""
      for (let i = 0; i < parts.length; i++)
        html += i % 2 === 1 ? slots[parts[i] as keyof EmailSlots] : parts[i]
      return html
    }
  }
}
let template: Promise<CompiledEmail> | undefined
const compiled = (): Promise<CompiledEmail> => {
  // A failed compile (a template error: a defect) is not cached, so the next email reports it again.
  template ??= compile().catch((error: unknown) => {
    template = undefined
    throw error
  })
  return template
}

export const numberAssignedEmail = async (input: {
  readonly owner: User
  readonly business: Business
  readonly number: PhoneNumber
  readonly appUrl: string
}): Promise<MailMessage> => {
  const display = formatNational(input.number.e164)
  const dashboard = new URL("/", input.appUrl).toString()
  const greeting = input.owner.name.trim() === "" ? "Hello" : `Hello ${input.owner.name.trim()}`
  const subject = `Your new phone number: ${display}`
  const text = [
    `${greeting},`,
    "",
    `${input.business.name} has its own phone number: ${display} (${input.number.e164}).`,
    "Calls to it are answered by your AI receptionist.",
    "",
    "Try it now: call the number from your phone and talk to your receptionist.",
    "Then share it: put it on your website and your Google Business Profile, so customers call it.",
    `Watch calls as they happen on your dashboard: ${dashboard}`,
    "",
    `— ${SERVICE}`
  ].join("\n")

  const html = (await compiled()).fill({
    subject: escapeHtml(subject),
    preview: escapeHtml(`${input.business.name} has its own phone number: ${display}`.trim()),
    greeting: escapeHtml(greeting),
    name: escapeHtml(input.business.name),
    number: escapeHtml(display),
    tel: escapeHtml(`tel:${input.number.e164}`),
    dashboard: escapeHtml(dashboard)
  })
  return { to: input.owner.email, subject, text, html }
}
