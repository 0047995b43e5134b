// What the HTTP app needs from the runtime it is built on, and its settings.
import type { Redacted } from "effect"
import type { Assistant } from "../../ports/Assistant.ts"
import type { Broadcaster } from "../../ports/Broadcaster.ts"
import type { JobQueue } from "../../ports/JobQueue.ts"
import type { Readiness } from "../../ports/Readiness.ts"
import type { Repository } from "../../ports/Repository.ts"

export type HttpServices = Repository | JobQueue | Assistant | Broadcaster | Readiness

export interface HttpSettings {
  readonly appUrl: string
  readonly authSecret: Redacted.Redacted<string>
  readonly vapiWebhookSecret: Redacted.Redacted<string>
  /** Twilio signs webhooks with the account's auth token (a generated one in sandbox). */
  readonly twilioAuthToken: Redacted.Redacted<string>
}
