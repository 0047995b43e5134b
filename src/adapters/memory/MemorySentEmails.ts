// In-memory SentEmails: kept in this process only (tests).
import { Effect, Layer, Ref } from "effect"
import { SentEmails } from "../../ports/SentEmails.ts"

export const layer = Layer.effect(
  SentEmails,
  Effect.map(Ref.make<ReadonlySet<string>>(new Set()), (keys) =>
    SentEmails.of({
      wasSent: (key) => Effect.map(Ref.get(keys), (sent) => sent.has(key)),
      markSent: (key) => Ref.update(keys, (sent) => new Set(sent).add(key))
    })
  )
)
