// What the mail adapters have sent, by idempotency key, so the owner hears once even when a job runs again.
import { Context, Effect, Layer, Ref } from "effect"

export interface SentEmailsShape {
  readonly wasSent: (key: string) => Effect.Effect<boolean>
  readonly markSent: (key: string) => Effect.Effect<void>
}

export class SentEmails extends Context.Service<SentEmails, SentEmailsShape>()(
  "numbers/adapters/mail/SentEmails"
) {
  /** Kept in this process only (tests, and the sandbox without a database). */
  static readonly memory = Layer.effect(
    SentEmails,
    Effect.map(Ref.make<ReadonlySet<string>>(new Set()), (keys) =>
      SentEmails.of({
        wasSent: (key) => Effect.map(Ref.get(keys), (sent) => sent.has(key)),
        markSent: (key) => Ref.update(keys, (sent) => new Set(sent).add(key))
      })
    )
  )
}

/** A Message-ID derived from the idempotency key: every attempt at one email carries the same one. */
export const messageIdFor = (idempotencyKey: string): string =>
  `<${idempotencyKey.replace(/[^A-Za-z0-9.-]/g, ".")}@numbers.invalid>`
