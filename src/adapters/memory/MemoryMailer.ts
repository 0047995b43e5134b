// In-memory Mailer: keeps what it sent, once per idempotency key, and can be told to be down for a while.
import { Context, Effect, Layer, Ref } from "effect"
import { Mailer, type MailMessage, MailUnavailable } from "../../ports/Mailer.ts"

export interface SentMail extends MailMessage {
  readonly idempotencyKey: string
}

export class MemoryMailerControl extends Context.Service<
  MemoryMailerControl,
  {
    /** The next `count` sends fail as if the SMTP server were down. */
    readonly failNext: (count: number) => Effect.Effect<void>
    readonly sent: Effect.Effect<ReadonlyArray<SentMail>>
    readonly attempts: Effect.Effect<number>
  }
>()("numbers/adapters/memory/MemoryMailerControl") {}

export const layer = Layer.effectContext(
  Effect.gen(function* () {
    const state = yield* Ref.make({ sent: [] as Array<SentMail>, failures: 0, attempts: 0 })

    const send = Effect.fn("Mailer.send")(function* (
      message: MailMessage,
      options: { readonly idempotencyKey: string }
    ) {
      const outcome = yield* Ref.modify(state, (s) => {
        const attempts = s.attempts + 1
        if (s.failures > 0) return ["down" as const, { ...s, attempts, failures: s.failures - 1 }]
        if (s.sent.some((m) => m.idempotencyKey === options.idempotencyKey))
          return ["already-sent" as const, { ...s, attempts }]
        return [
          "sent" as const,
          { ...s, attempts, sent: [...s.sent, { ...message, idempotencyKey: options.idempotencyKey }] }
        ]
      })
      if (outcome === "down")
        return yield* new MailUnavailable({ message: "connection refused by the mail server" })
      return outcome
    })

    const control = MemoryMailerControl.of({
      failNext: (count) => Ref.update(state, (s) => ({ ...s, failures: count })),
      sent: Ref.get(state).pipe(Effect.map((s) => s.sent)),
      attempts: Ref.get(state).pipe(Effect.map((s) => s.attempts))
    })
    return Context.make(Mailer, Mailer.of({ send })).pipe(Context.add(MemoryMailerControl, control))
  })
)
