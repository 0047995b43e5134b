// Mailer over SMTP (nodemailer, pooled; TLS as SMTP_URL says: smtps:// or STARTTLS offered by the server).
// Connection trouble and 4xx replies are retryable; 5xx replies and bad credentials are not. Each message sent
// is a client span (the server's host and port, its reply code; never SMTP_URL, which holds the password), a
// log line and a count in numbers_provider_requests_total.
import { Duration, Effect, Exit, Layer, Option, Redacted, Schema } from "effect"
import nodemailer from "nodemailer"
import { Mailer, type MailMessage, MailRejected, MailUnavailable } from "../../ports/Mailer.ts"
import { type ProviderOutcome, recordProviderRequest } from "../../ports/metrics.ts"
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

/** How a send ended, for numbers_provider_requests_total: refusals are ours to fix, 4xx the server's. */
const outcomeOf = (exit: Exit.Exit<unknown, unknown>): ProviderOutcome => {
  if (Exit.isSuccess(exit)) return "ok"
  const failure = Option.getOrUndefined(Exit.findErrorOption(exit))
  const { code, responseCode } = Schema.is(SmtpFailure)(failure)
    ? failure
    : { code: undefined, responseCode: undefined }
  if (code === "EAUTH" || (responseCode !== undefined && responseCode >= 500)) return "client_error"
  if (responseCode !== undefined && responseCode >= 400) return "server_error"
  return code === "ETIMEDOUT" ? "timeout" : "network_error"
}

/** The reply code at the head of the server's answer (`250 OK: queued as ...`). */
const replyCodeOf = (response: unknown) => {
  const code = typeof response === "string" ? Number(response.slice(0, 3)) : Number.NaN
  return Number.isInteger(code) ? code : undefined
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
      // Holds the password too: only its host and port go anywhere (the span).
      const settings = transportOptions(options.smtpUrl)
      const transport = yield* Effect.acquireRelease(
        Effect.sync(() => nodemailer.createTransport(settings)),
        (transport) => Effect.sync(() => transport.close())
      )

      const send = Effect.fn("Mailer.send")(function* (
        message: MailMessage,
        { idempotencyKey }: { readonly idempotencyKey: string }
      ) {
        if (yield* sent.wasSent(idempotencyKey)) return "already-sent" as const
        const messageId = messageIdFor(idempotencyKey)
        const started = performance.now()
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
              messageId
            }),
          catch: (error) => error
        }).pipe(
          Effect.tap((info) => {
            const replyCode = replyCodeOf(info.response)
            const took = Math.round(performance.now() - started)
            return Effect.annotateCurrentSpan(
              replyCode === undefined ? {} : { "smtp.reply_code": replyCode }
            ).pipe(
              Effect.andThen(
                Effect.logInfo(`smtp: sent ${messageId} in ${took} ms (${replyCode ?? "no reply code"})`)
              ),
              Effect.annotateLogs({ provider: "smtp", smtp_message_id: messageId })
            )
          }),
          Effect.onExit((exit) =>
            recordProviderRequest(
              "smtp",
              "send",
              outcomeOf(exit),
              Duration.millis(performance.now() - started)
            )
          ),
          // Inside the span: it ends with the port's error, whose message never holds the server's text.
          Effect.mapError(mapSmtpError),
          Effect.withSpan("smtp send", {
            kind: "client",
            attributes: {
              "server.address": settings.host,
              "server.port": settings.port,
              "smtp.message_id": messageId
            }
          })
        )
        yield* sent.markSent(idempotencyKey)
        return "sent" as const
      })

      return Mailer.of({ send })
    })
  )
