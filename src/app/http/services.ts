// What the HTTP app needs from the runtime it is built on, and its settings.
import type { Redacted } from "effect"
import type { Assistant } from "../../ports/Assistant.ts"
import type { Broadcaster } from "../../ports/Broadcaster.ts"
import type { JobQueue } from "../../ports/JobQueue.ts"
import type { Readiness } from "../../ports/Readiness.ts"
import type { Repository } from "../../ports/Repository.ts"
import type { Telephony } from "../../ports/Telephony.ts"
import type { Settings } from "../usecases/Settings.ts"

/** Telephony: a reactivation asks Twilio whether a release that went out unanswered happened. */
export type HttpServices = Repository | JobQueue | Assistant | Broadcaster | Readiness | Telephony | Settings

export interface HttpSettings {
  readonly appUrl: string
  readonly authSecret: Redacted.Redacted<string>
  readonly vapiWebhookSecret: Redacted.Redacted<string>
  /** Twilio signs webhooks with the account's auth token (a generated one in sandbox). */
  readonly twilioAuthToken: Redacted.Redacted<string>
}
