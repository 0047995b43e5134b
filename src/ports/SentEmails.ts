// Port: what the mail adapters have sent, by idempotency key, so the owner hears once even when a job runs again
// (Postgres in production, shared by every worker).
import { Context, type Effect } from "effect"

export interface SentEmailsShape {
  readonly wasSent: (key: string) => Effect.Effect<boolean>
  readonly markSent: (key: string) => Effect.Effect<void>
}

export class SentEmails extends Context.Service<SentEmails, SentEmailsShape>()("numbers/ports/SentEmails") {}
