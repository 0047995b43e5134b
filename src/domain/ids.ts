// Branded identifiers: a BusinessId can never be passed where a TrialId is expected. Ids of ours are UUIDs
// (Postgres makes them): one that enters from outside is decoded by its Schema before any use case sees it.
import { Option, Schema } from "effect"

const Uuid = Schema.String.check(Schema.isUUID(undefined, { message: "a UUID" }))

/** Ids of other systems: bounded, printable ASCII (no spaces, no control bytes). */
const ForeignId = Schema.String.check(
  Schema.isNonEmpty(),
  Schema.isMaxLength(100),
  Schema.isPattern(/^[\x21-\x7e]+$/, { message: "printable ASCII without spaces" })
)

export const UserId = Uuid.pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

export const TrialId = Uuid.pipe(Schema.brand("TrialId"))
export type TrialId = typeof TrialId.Type

export const BusinessId = Uuid.pipe(Schema.brand("BusinessId"))
export type BusinessId = typeof BusinessId.Type

/** Vapi's assistant id (a UUID on Vapi's side; we only require it to be a sane token). */
export const AssistantId = ForeignId.pipe(Schema.brand("AssistantId"))
export type AssistantId = typeof AssistantId.Type

/** Vapi's call id: calls are keyed by it. */
export const VapiCallId = ForeignId.pipe(Schema.brand("VapiCallId"))
export type VapiCallId = typeof VapiCallId.Type

/** Twilio's IncomingPhoneNumber SID, e.g. `PN0123...`. */
export const TwilioSid = ForeignId.pipe(Schema.brand("TwilioSid"))
export type TwilioSid = typeof TwilioSid.Type

/** The id, or null when the text is not one (a malformed id is treated as an unknown one, with no lookup). */
export const decodeIdOrNull =
  <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) =>
  (text: unknown): S["Type"] | null =>
    Option.getOrNull(Schema.decodeUnknownOption(schema)(text))
