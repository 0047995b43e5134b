// SentEmails in Postgres (`email_deliveries`), shared by every worker. A lookup that fails answers "not sent":
// a rare second email beats a lost one.
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { SentEmails } from "../mail/SentEmails.ts"

export const layer = Layer.effect(
  SentEmails,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return SentEmails.of({
      wasSent: (key) =>
        sql`SELECT 1 FROM email_deliveries WHERE idempotency_key = ${key}`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.catch(() => Effect.succeed(false))
        ),
      markSent: (key) =>
        sql`INSERT INTO email_deliveries (idempotency_key) VALUES (${key}) ON CONFLICT DO NOTHING`.pipe(
          Effect.asVoid,
          Effect.retry({ times: 3 }),
          Effect.catch((error) => Effect.logWarning(`could not record a sent email: ${error.reason._tag}`))
        )
    })
  })
)
