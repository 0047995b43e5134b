// Mailer over SMTP (nodemailer, pooled; TLS as SMTP_URL says: smtps:// or STARTTLS offered by the server).
// Connection trouble and 4xx replies are retryable; 5xx replies and bad credentials are not.
import { Effect, Layer, Redacted, Schema } from "effect"
import nodemailer from "nodemailer"
import { Mailer, type MailMessage, MailRejected, MailUnavailable } from "../../ports/Mailer.ts"
import { SentEmails } from "../../ports/SentEmails.ts"
import { messageIdFor } from "./messageId.ts"

export interface SmtpOptions {
  readonly smtpUrl: Redacted.Redacted<string>
  readonly from: string
}

const SmtpFailure = Schema.Struct({
  code: Schema.optional(Schema.String),
  responseCode: Schema.optional(Schema.Number)
})

/** Messages say what kind of failure it was; never the server's text (it can echo addresses or credentials). */
const mapSmtpError = (error: unknown): MailUnavailable | MailRejected => {
  const { code, responseCode } = Schema.is(SmtpFailure)(error)
    ? error
    : { code: undefined, responseCode: undefined }
  if (code === "EAUTH") return new MailRejected({ message: "the mail server refused our credentials" })
  if (responseCode !== undefined && responseCode >= 500) {
    return new MailRejected({ message: `the mail server refused the message (${responseCode})` })
  }
  return new MailUnavailable({
    message: `the mail server is unavailable (${responseCode ?? code ?? "no answer"})`
  })
}

/** smtp://user:pass@host:587 (STARTTLS when the server offers it) or smtps://...:465 (TLS from the start). */
const transportOptions = (smtpUrl: Redacted.Redacted<string>) => {
  const url = new URL(Redacted.value(smtpUrl))
  const secure = url.protocol === "smtps:"
  return {
    pool: true as const,
    host: url.hostname,
    port: Number(url.port) || (secure ? 465 : 587),
    secure,
    requireTLS: url.searchParams.get("requireTLS") === "true",
    ...(url.username
      ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }
      : {}),
    maxConnections: 4,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000
  }
}

export const layer = (options: SmtpOptions) =>
  Layer.effect(
    Mailer,
    Effect.gen(function* () {
      const sent = yield* SentEmails
      const transport = yield* Effect.acquireRelease(
        Effect.sync(() => nodemailer.createTransport(transportOptions(options.smtpUrl))),
        (transport) => Effect.sync(() => transport.close())
      )

      const send = Effect.fn("Mailer.send")(function* (
        message: MailMessage,
        { idempotencyKey }: { readonly idempotencyKey: string }
      ) {
        if (yield* sent.wasSent(idempotencyKey)) return "already-sent" as const
        yield* Effect.tryPromise({
          try: () =>
            transport.sendMail({
              from: options.from,
              to: message.to,
              subject: message.subject,
              text: message.text,
              html: message.html,
              headers: { "X-Idempotency-Key": idempotencyKey },
              // The same message on every attempt: a resend after a crash is recognisable (and collapsed by
              // mailboxes that deduplicate by Message-ID).
              messageId: messageIdFor(idempotencyKey)
            }),
          catch: mapSmtpError
        })
        yield* sent.markSent(idempotencyKey)
        return "sent" as const
      })

      return Mailer.of({ send })
    })
  )
