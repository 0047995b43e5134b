// Mailer without SMTP: each message is written as an .eml file (open it in any mail client) and the path logged.
import { mkdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { Effect, Layer } from "effect"
import nodemailer from "nodemailer"
import { Mailer, type MailMessage, MailUnavailable } from "../../ports/Mailer.ts"
import { SentEmails } from "../../ports/SentEmails.ts"
import { messageIdFor } from "./messageId.ts"

export const layer = (options: { readonly directory: string; readonly from: string }) =>
  Layer.effect(
    Mailer,
    Effect.gen(function* () {
      const sent = yield* SentEmails
      const directory = resolve(options.directory)
      const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" })

      const send = Effect.fn("Mailer.send")(function* (
        message: MailMessage,
        { idempotencyKey }: { readonly idempotencyKey: string }
      ) {
        if (yield* sent.wasSent(idempotencyKey)) return "already-sent" as const
        const file = join(directory, `${idempotencyKey.replace(/[^A-Za-z0-9._-]/g, "_")}.eml`)
        yield* Effect.tryPromise({
          try: async () => {
            const info = await transport.sendMail({
              from: options.from,
              ...message,
              headers: { "X-Idempotency-Key": idempotencyKey },
              // The same message on every attempt: a resend after a crash is recognisable (and collapsed by
              // mailboxes that deduplicate by Message-ID).
              messageId: messageIdFor(idempotencyKey)
            })
            mkdirSync(directory, { recursive: true })
            await Bun.write(file, info.message as Buffer)
          },
          catch: () => new MailUnavailable({ message: `could not write ${file}` })
        })
        yield* sent.markSent(idempotencyKey)
        yield* Effect.logInfo(`email to ${message.to} written to ${file}`)
        return "sent" as const
      })

      return Mailer.of({ send })
    })
  )
