// Port: email to owners (SMTP in production).
import { Context, type Effect, Schema } from "effect"

export interface MailMessage {
  readonly to: string
  readonly subject: string
  readonly text: string
  readonly html: string
}

/** The mail server could not be reached or refused for now: retry later. */
export class MailUnavailable extends Schema.TaggedError<MailUnavailable>()("MailUnavailable", {
  message: Schema.String
}) {}

/** The message itself was refused (bad recipient): retrying cannot help. */
export class MailRejected extends Schema.TaggedError<MailRejected>()("MailRejected", {
  message: Schema.String
}) {}

export interface MailerShape {
  /** Sends the message unless one with the same key was already sent; answers whether it sent now. */
  readonly send: (
    message: MailMessage,
    options: { readonly idempotencyKey: string }
  ) => Effect.Effect<"sent" | "already-sent", MailUnavailable | MailRejected>
}

export class Mailer extends Context.Service<Mailer, MailerShape>()("numbers/ports/Mailer") {}
