// The "Number assigned" email: one message, an HTML and a plain-text part saying the same thing.
import type { Business, PhoneNumber, User } from "../../domain/entities.ts"
import { formatNational } from "../../domain/phone.ts"
import type { MailMessage } from "../../ports/Mailer.ts"

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

export const numberAssignedEmail = (input: {
  readonly owner: User
  readonly business: Business
  readonly number: PhoneNumber
  readonly appUrl: string
}): MailMessage => {
  const display = formatNational(input.number.e164)
  const dashboard = new URL("/", input.appUrl).toString()
  const greeting = input.owner.name.trim() === "" ? "Hello" : `Hello ${input.owner.name.trim()}`
  const text = [
    `${greeting},`,
    "",
    `${input.business.name} has its own phone number: ${display} (${input.number.e164}).`,
    "Calls to it are answered by your AI receptionist.",
    "",
    "Try it now: call the number from your phone and talk to your receptionist.",
    `Watch calls as they happen on your dashboard: ${dashboard}`,
    "",
    "— Numbers"
  ].join("\n")
  const html = `<!doctype html>
<html><body style="font-family: system-ui, sans-serif; color: #1f2937">
<p>${escapeHtml(greeting)},</p>
<p><strong>${escapeHtml(input.business.name)}</strong> has its own phone number:</p>
<p style="font-size: 24px; font-weight: 600"><a href="tel:${input.number.e164}">${escapeHtml(display)}</a></p>
<p>Calls to it are answered by your AI receptionist.</p>
<ol>
<li>Try it now: call the number from your phone and talk to your receptionist.</li>
<li>Watch calls as they happen on <a href="${escapeHtml(dashboard)}">your dashboard</a>.</li>
</ol>
<p>— Numbers</p>
</body></html>`
  return { to: input.owner.email, subject: `Your new phone number: ${display}`, text, html }
}
