// The Number assigned email through the real mail adapters: over SMTP to a server on loopback, and as .eml
// files; both parsed back as a mail client would.
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { simpleParser } from "mailparser"
import * as FileMailer from "../../src/adapters/mail/FileMailer.ts"
import * as SmtpMailer from "../../src/adapters/mail/SmtpMailer.ts"
import * as MemorySentEmails from "../../src/adapters/memory/MemorySentEmails.ts"
import { numberAssignedEmail } from "../../src/app/usecases/email/numberAssignedEmail.ts"
import { Mailer } from "../../src/ports/Mailer.ts"
import { assignedBusinessValues } from "../support/fixtures.ts"
import { startSmtp } from "../support/smtp.ts"

const { owner, business, number } = assignedBusinessValues("Joe's Plumbing")
const message = await numberAssignedEmail({ owner, business, number, appUrl: "https://numbers.example.com" })
const FROM = "Numbers <no-reply@numbers.example.com>"

const smtpLayer = (url: string) =>
  SmtpMailer.layer({ smtpUrl: Redacted.make(url), from: FROM }).pipe(Layer.provide(MemorySentEmails.layer))

describe("SMTP mailer", () => {
  it.effect("delivers the email once per key, with both parts, to the owner, from MAIL_FROM", () =>
    Effect.gen(function* () {
      const smtp = yield* Effect.acquireRelease(
        Effect.promise(() => startSmtp()),
        (s) => Effect.promise(s.stop)
      )
      const outcomes = yield* Effect.gen(function* () {
        const mailer = yield* Mailer
        return [
          yield* mailer.send(message, { idempotencyKey: "number-assigned:b1" }),
          yield* mailer.send(message, { idempotencyKey: "number-assigned:b1" })
        ]
      }).pipe(Effect.provide(smtpLayer(smtp.url)))
      assert.deepStrictEqual(outcomes, ["sent", "already-sent"])
      // The server acknowledges first and parses after, as a real one queues before delivering.
      for (let i = 0; i < 100 && smtp.received().length === 0; i++) yield* Effect.sleep("20 millis")
      yield* Effect.sleep("100 millis")
      const [mail, ...rest] = smtp.received()
      assert.strictEqual(rest.length, 0)
      assert.strictEqual(mail?.subject, "Your new phone number: (415) 555-0123")
      assert.deepStrictEqual(
        mail?.from?.value.map((a) => [a.name, a.address]),
        [["Numbers", "no-reply@numbers.example.com"]]
      )
      assert.deepStrictEqual(
        [mail?.to].flat().flatMap((a) => a?.value.map((v) => v.address)),
        ["joe@example.com"]
      )
      assert.include(mail?.text, "(415) 555-0123")
      assert.include(mail?.text, "https://numbers.example.com/")
      assert.include(String(mail?.html), "(415) 555-0123")
      assert.include(String(mail?.html), "Joe&#39;s Plumbing")
      assert.notInclude(`${mail?.text}${mail?.html}`, "smtp-test-password")
      assert.strictEqual(mail?.messageId, "<number-assigned.b1@numbers.invalid>")
    }).pipe(Effect.scoped, TestClock.withLive)
  )

  it.effect("an unreachable server is MailUnavailable (retryable), and nothing is marked sent", () =>
    Effect.gen(function* () {
      const smtp = yield* Effect.acquireRelease(
        Effect.promise(() => startSmtp()),
        (s) => Effect.promise(s.stop)
      )
      const url = smtp.url
      yield* Effect.promise(smtp.stop)
      const error = yield* Effect.flip(Mailer.use((m) => m.send(message, { idempotencyKey: "k-down" }))).pipe(
        Effect.provide(smtpLayer(url))
      )
      assert.strictEqual(error._tag, "MailUnavailable")
      assert.notInclude(error.message, "smtp-test-password")
    }).pipe(Effect.scoped, TestClock.withLive)
  )

  it.effect("a refused mailbox is MailRejected; wrong credentials too, and never shown", () =>
    Effect.gen(function* () {
      const smtp = yield* Effect.acquireRelease(
        Effect.promise(() => startSmtp()),
        (s) => Effect.promise(s.stop)
      )
      smtp.refuse("joe@example.com")
      const refused = yield* Effect.flip(
        Mailer.use((m) => m.send(message, { idempotencyKey: "k-refused" }))
      ).pipe(Effect.provide(smtpLayer(smtp.url)))
      assert.strictEqual(refused._tag, "MailRejected")
      const badLogin = yield* Effect.flip(
        Mailer.use((m) => m.send(message, { idempotencyKey: "k-auth" }))
      ).pipe(Effect.provide(smtpLayer(smtp.url.replace("smtp-test-password", "wrong-password"))))
      assert.strictEqual(badLogin._tag, "MailRejected")
      assert.notInclude(badLogin.message, "wrong-password")
    }).pipe(Effect.scoped, TestClock.withLive)
  )
})

describe("file mailer (no SMTP_URL)", () => {
  it.effect("writes one .eml per key that parses back to the same email", () =>
    Effect.gen(function* () {
      const directory = mkdtempSync(join(tmpdir(), "numbers-outbox-"))
      const outcomes = yield* Effect.gen(function* () {
        const mailer = yield* Mailer
        return [
          yield* mailer.send(message, { idempotencyKey: "number-assigned:b1" }),
          yield* mailer.send(message, { idempotencyKey: "number-assigned:b1" })
        ]
      }).pipe(
        Effect.provide(
          FileMailer.layer({ directory, from: FROM }).pipe(Layer.provide(MemorySentEmails.layer))
        )
      )
      assert.deepStrictEqual(outcomes, ["sent", "already-sent"])
      const files = readdirSync(directory)
      assert.deepStrictEqual(files, ["number-assigned_b1.eml"])
      const mail = yield* Effect.promise(() => simpleParser(readFileSync(join(directory, files[0] ?? ""))))
      assert.strictEqual(mail.subject, message.subject)
      assert.include(mail.text, "(415) 555-0123")
      assert.include(String(mail.html), "(415) 555-0123")
    })
  )
})
