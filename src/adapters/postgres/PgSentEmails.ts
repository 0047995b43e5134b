// SentEmails in Postgres (`email_deliveries`), shared by every worker. A lookup that fails answers "not sent":
// a rare second email beats a lost one.
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { SentEmails } from "../../ports/SentEmails.ts"
import { failureKind, retryTransient } from "./failures.ts"

export const layer = Layer.effect(
  SentEmails,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return SentEmails.of({
      wasSent: (key) =>
        sql`SELECT 1 FROM email_deliveries WHERE idempotency_key = ${key}`.pipe(
          Effect.map((rows) => rows.length > 0),
          retryTransient(sql),
          Effect.catch((error) =>
            Effect.as(Effect.logWarning(`could not look up a sent email: ${failureKind(error)}`), false)
          )
        ),
      markSent: (key) =>
        sql`INSERT INTO email_deliveries (idempotency_key) VALUES (${key}) ON CONFLICT DO NOTHING`.pipe(
          Effect.asVoid,
          retryTransient(sql),
          Effect.catch((error) => Effect.logWarning(`could not record a sent email: ${failureKind(error)}`))
        )
    })
  })
)
