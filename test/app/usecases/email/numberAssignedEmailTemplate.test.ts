// The email's HTML is MJML rendered once with markers, then filled in per email: for any business name, owner
// name, number and app URL, that must give exactly the HTML that rendering the whole email with MJML gives.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import {
  numberAssignedEmail,
  numberAssignedMjml,
  renderMjml
} from "../../../../src/app/usecases/email/numberAssignedEmail.ts"
import { E164, formatNational } from "../../../../src/domain/phone.ts"
import { assignedBusinessValues } from "../../../support/fixtures.ts"

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const Subscriber = Schema.String.check(Schema.isPattern(/^[2-9]\d{6}$/))
const Host = Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6})?$/))

const bothWays = (businessName: string, ownerName: string, rawE164: string, appUrl: string) =>
  Effect.promise(async () => {
    const values = assignedBusinessValues(businessName, ownerName)
    const e164 = Schema.decodeSync(E164)(rawE164)
    const number = { ...values.number, e164 }
    const email = await numberAssignedEmail({ ...values, number, appUrl })
    const display = formatNational(e164)
    const greeting = ownerName.trim() === "" ? "Hello" : `Hello ${ownerName.trim()}`
    const whole = await renderMjml(
      numberAssignedMjml({
        subject: escapeHtml(`Your new phone number: ${display}`),
        preview: escapeHtml(`${businessName} has its own phone number: ${display}`),
        greeting: escapeHtml(greeting),
        name: escapeHtml(businessName),
        number: escapeHtml(display),
        tel: escapeHtml(`tel:${e164}`),
        dashboard: escapeHtml(new URL("/", appUrl).toString())
      })
    )
    return { email, whole }
  })

describe("Number assigned email: the compiled template", () => {
  it.effect.prop(
    "fills in to the same HTML as rendering the whole email, for any names, number and app URL",
    [Schema.String, Schema.String, Subscriber, Host],
    ([businessName, ownerName, subscriber, host]) =>
      Effect.gen(function* () {
        const { email, whole } = yield* bothWays(
          businessName,
          ownerName,
          `+1415${subscriber}`,
          `https://${host}`
        )
        assert.strictEqual(email.html, whole)
      })
  )

  it.effect("names with whitespace at their ends (ASCII and Unicode) render as MJML renders them", () =>
    Effect.gen(function* () {
      for (const name of [" ", "\t\n", "\u00a0Joe\u2028", "\ufeff", "  Joe's  ", "\u3000"]) {
        const { email, whole } = yield* bothWays(name, name, "+14155550123", "https://a.example")
        assert.strictEqual(email.html, whole, JSON.stringify(name))
      }
    })
  )

  it.effect("the markers never reach an email, even when a name looks like one", () =>
    Effect.gen(function* () {
      const name = "numbersslotnamenumbersslot & <b>co</b>"
      const { email, whole } = yield* bothWays(
        name,
        "numbersslotgreetingnumbersslot",
        "+14155550123",
        "https://a.example"
      )
      assert.strictEqual(email.html, whole)
      assert.include(email.html, "numbersslotnamenumbersslot &#38; &#60;b&#62;co&#60;/b&#62;")
      assert.notInclude(email.html, "<b>co</b>")
    })
  )
})
