// Port: the business's voice assistant (Vapi in production).
import { Context, type Effect, type Redacted, Schema } from "effect"
import type { AssistantId } from "../domain/ids.ts"

export interface ServerSettings {
  /** Our Vapi webhook with `?business_id=`. */
  readonly url: string
  /** Sent back by Vapi as `X-Vapi-Secret` on every webhook. */
  readonly secret: Redacted.Redacted<string>
}

export interface InboundCall {
  readonly assistantId: AssistantId
  readonly callSid: string
  readonly from: string
  /** Our Twilio number that was called. */
  readonly to: string
}

export class AssistantNotFound extends Schema.TaggedError<AssistantNotFound>()("AssistantNotFound", {
  assistantId: Schema.String
}) {}

/** 5xx, timeout or reset: retryable where repeating the request is safe. */
export class AssistantUnavailable extends Schema.TaggedError<AssistantUnavailable>()("AssistantUnavailable", {
  message: Schema.String
}) {}

/** Auth, validation or account problems: retrying cannot help. */
export class AssistantRejected extends Schema.TaggedError<AssistantRejected>()("AssistantRejected", {
  message: Schema.String
}) {}

export type AssistantError = AssistantNotFound | AssistantUnavailable | AssistantRejected

export interface AssistantShape {
  /** Points the assistant's server (webhook) at us. Idempotent. */
  readonly setServer: (
    assistantId: AssistantId,
    settings: ServerSettings
  ) => Effect.Effect<void, AssistantError>
  /** Hands a Twilio call to the assistant; answers the TwiML Twilio should follow. */
  readonly startInboundCall: (call: InboundCall) => Effect.Effect<string, AssistantError>
}

export class Assistant extends Context.Service<Assistant, AssistantShape>()("numbers/ports/Assistant") {}
