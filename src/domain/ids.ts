// Branded identifiers: a BusinessId can never be passed where a TrialId is expected.
import { Schema } from "effect"

const Id = Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(64))

export const UserId = Id.pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

export const TrialId = Id.pipe(Schema.brand("TrialId"))
export type TrialId = typeof TrialId.Type

export const BusinessId = Id.pipe(Schema.brand("BusinessId"))
export type BusinessId = typeof BusinessId.Type

/** Vapi's assistant id (a UUID on Vapi's side; we only require it to be a sane token). */
export const AssistantId = Id.pipe(Schema.brand("AssistantId"))
export type AssistantId = typeof AssistantId.Type

/** Vapi's call id: calls are keyed by it. */
export const VapiCallId = Id.pipe(Schema.brand("VapiCallId"))
export type VapiCallId = typeof VapiCallId.Type

/** Twilio's IncomingPhoneNumber SID, e.g. `PN0123...`. */
export const TwilioSid = Id.pipe(Schema.brand("TwilioSid"))
export type TwilioSid = typeof TwilioSid.Type
