// In-memory Mailer: keeps what it sent, once per idempotency key, and can be told to be down for a while.
// Its state is one immutable value in a Ref: every operation is a pure step from one state to the next.
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

interface State {
  readonly sent: ReadonlyArray<SentMail>
  /** How many of the next sends fail. */
  readonly failures: number
  readonly attempts: number
}

/** Every send is an attempt; it fails while failures are due, and sends a key at most once. */
const sendStep =
  (mail: SentMail) =>
  (s: State): readonly ["down" | "already-sent" | "sent", State] => {
    const attempts = s.attempts + 1
    if (s.failures > 0) return ["down", { ...s, attempts, failures: s.failures - 1 }]
    if (s.sent.some((m) => m.idempotencyKey === mail.idempotencyKey))
      return ["already-sent", { ...s, attempts }]
    return ["sent", { ...s, attempts, sent: [...s.sent, mail] }]
  }

export const layer = Layer.effectContext(
  Effect.gen(function* () {
    const state = yield* Ref.make<State>({ sent: [], failures: 0, attempts: 0 })

    const send = Effect.fn("Mailer.send")(function* (
      message: MailMessage,
      options: { readonly idempotencyKey: string }
    ) {
      const outcome = yield* Ref.modify(
        state,
        sendStep({ ...message, idempotencyKey: options.idempotencyKey })
      )
      if (outcome === "down")
        return yield* new MailUnavailable({ message: "connection refused by the mail server" })
      return outcome
    })

    const control = MemoryMailerControl.of({
      failNext: (count) => Ref.update(state, (s) => ({ ...s, failures: count })),
      sent: Effect.map(Ref.get(state), (s) => s.sent),
      attempts: Effect.map(Ref.get(state), (s) => s.attempts)
    })
    return Context.make(Mailer, Mailer.of({ send })).pipe(Context.add(MemoryMailerControl, control))
  })
)
