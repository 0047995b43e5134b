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

  const name = escapeHtml(input.business.name)
  const number = escapeHtml(display)
  const tel = escapeHtml(`tel:${input.number.e164}`)
  const mjml = `<mjml lang="en">
  <mj-head>
    <mj-title>${escapeHtml(subject)}</mj-title>
    <mj-preview>${name} has its own phone number: ${number}</mj-preview>
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
        <mj-text css-class="copy">${escapeHtml(greeting)},</mj-text>
        <mj-text css-class="copy"><strong>${name}</strong> has its own phone number:</mj-text>
        <mj-text css-class="number" align="center" padding="4px 16px"><a href="${tel}" style="display: inline-block; padding: 8px 4px; color: ${LIGHT.number}; font-size: 34px; line-height: 44px; font-weight: 700; text-decoration: none; white-space: nowrap;">${number}</a></mj-text>
        <mj-text css-class="copy">Calls to it are answered by your AI receptionist.</mj-text>
        <mj-text css-class="copy" font-size="18px" font-weight="700" padding="16px 24px 0">Next steps</mj-text>
        <mj-text css-class="copy">
          <ol style="margin: 0; padding: 0 0 0 24px;">
            <li style="margin: 0 0 8px;"><strong>Try it now:</strong> call ${number} from your phone and talk to your receptionist.</li>
            <li style="margin: 0;"><strong>Share it:</strong> put it on your website and your Google Business Profile, so customers call it.</li>
          </ol>
        </mj-text>
        <mj-button href="${escapeHtml(dashboard)}" background-color="${LIGHT.buttonBg}" color="${LIGHT.buttonText}" font-size="16px" font-weight="700" border-radius="8px" inner-padding="14px 28px" padding="16px 24px 8px">Open your dashboard</mj-button>
        <mj-text css-class="copy" align="center" font-size="14px">Watch calls as they happen on your dashboard.</mj-text>
      </mj-column>
    </mj-section>
    <mj-section padding="16px 0 32px">
      <mj-column>
        <mj-text css-class="muted" color="${LIGHT.muted}" font-size="13px" line-height="20px" align="center">You are getting this email because you own ${name} on ${SERVICE}: its trial converted and we assigned it this phone number.</mj-text>
        <mj-text css-class="muted" color="${LIGHT.muted}" font-size="13px" line-height="20px" align="center">${SERVICE}, the AI receptionist that answers your business's phone.</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>`
  // Loaded on first use (the runtime caches it): importing mjml takes about 350 ms, which the processes and
  // tests that never send this email should not pay at start.
  const { default: mjml2html } = await import("mjml")
  // strict: a template error throws instead of rendering a broken email; no web fonts, no comments.
  const { html } = await mjml2html(mjml, { validationLevel: "strict", fonts: {}, keepComments: false })
  return { to: input.owner.email, subject, text, html }
}
