// The "Number assigned" email job: once per business (a repeat answers already-sent), to the owner, with the
// number in both parts; a mail outage fails the send for the job queue to retry.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { MemoryMailerControl } from "../../../src/adapters/memory/MemoryMailer.ts"
import { memoryLayer } from "../../../src/app/layers/memory.ts"
import { assignNumber } from "../../../src/app/usecases/AssignNumber.ts"
import { sendNumberAssignedEmail } from "../../../src/app/usecases/SendNumberAssignedEmail.ts"
import { givenBusiness } from "../../support/fixtures.ts"

const SECRET = "test-vapi-secret"
const withMemory = () =>
  Effect.provide(
    memoryLayer({
      telephony: { inventory: { "212": 5, "415": 5, "510": 5, "650": 5 } },
      settings: { appUrl: "https://numbers.test", vapiWebhookSecret: Redacted.make(SECRET) }
    })
  )

describe("the Number assigned email", () => {
  it.effect("goes to the owner once, with the number in both parts", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness({ businessName: "Joe's Plumbing", ownerEmail: "joe@example.com" })
      const outcome = yield* assignNumber(business.id)
      assert.strictEqual(outcome._tag, "Assigned")
      const first = yield* sendNumberAssignedEmail(business.id)
      const again = yield* sendNumberAssignedEmail(business.id)
      assert.deepStrictEqual([first, again], ["sent", "already-sent"])

      const sent = yield* MemoryMailerControl.use((m) => m.sent)
      assert.strictEqual(sent.length, 1)
      const [mail] = sent
      const e164 = outcome._tag === "Assigned" ? outcome.number.e164 : ""
      const national = `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`
      assert.strictEqual(mail?.to, "joe@example.com")
      assert.strictEqual(mail?.subject, `Your new phone number: ${national}`)
      assert.include(mail?.text, national)
      assert.include(mail?.html, national)
      assert.include(mail?.html, "Joe&#39;s Plumbing")
      assert.include(mail?.text, "https://numbers.test/")
      assert.notInclude(`${mail?.text}${mail?.html}`, SECRET)
    }).pipe(withMemory())
  )

  it.effect("an SMTP outage fails the send (to be retried) and the email goes out once SMTP is back", () =>
    Effect.gen(function* () {
      const business = yield* givenBusiness()
      yield* assignNumber(business.id)
      yield* MemoryMailerControl.use((m) => m.failNext(2))
      const failures = yield* Effect.forEach([1, 2], () => Effect.flip(sendNumberAssignedEmail(business.id)))
      assert.deepStrictEqual(
        failures.map((f) => f._tag),
        ["MailUnavailable", "MailUnavailable"]
      )
      assert.strictEqual(yield* sendNumberAssignedEmail(business.id), "sent")
      assert.strictEqual((yield* MemoryMailerControl.use((m) => m.sent)).length, 1)
    }).pipe(withMemory())
  )
})
