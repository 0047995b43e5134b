// The service's entities. Their JSON form (camelCase, ISO dates) is the API contract (docs/ARCHITECTURE.md).
import { Schema } from "effect"
import { AssistantId, BusinessId, TrialId, TwilioSid, UserId, VapiCallId } from "./ids.ts"
import { AreaCode, E164 } from "./phone.ts"

export const Email = Schema.String.check(
  Schema.isPattern(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { message: "an email address, like owner@example.com" }),
  Schema.isMaxLength(254)
)

export class User extends Schema.Class<User>("numbers/User")({
  id: UserId,
  email: Email,
  name: Schema.String
}) {}

export const TrialStatus = Schema.Literals(["active", "converted"])
export type TrialStatus = typeof TrialStatus.Type

export class Trial extends Schema.Class<Trial>("numbers/Trial")({
  id: TrialId,
  ownerId: UserId,
  ownerEmail: Email,
  businessName: Schema.String,
  vapiAssistantId: AssistantId,
  requestedAreaCode: Schema.NullOr(Schema.String),
  status: TrialStatus,
  businessId: Schema.NullOr(BusinessId)
}) {}

export class PhoneNumber extends Schema.Class<PhoneNumber>("numbers/PhoneNumber")({
  e164: E164,
  areaCode: Schema.NullOr(AreaCode),
  twilioSid: TwilioSid,
  /** When Twilio created it: its full month is billed up front on this day of every month. */
  dateCreated: Schema.DateTimeUtcFromString
}) {}

/** `released`: the business let its number go (it has none now; a reactivation gets it a new one). */
export const NumberStatus = Schema.Literals(["pending", "assigned", "failed", "released"])
export type NumberStatus = typeof NumberStatus.Type

/** Whether the business's Vapi assistant points at our webhook: `pending` until the number is bought and it is
 *  pointed; `failed` (with the failure reason) when Vapi refused, or kept failing past the retry budget. */
export const AssistantStatus = Schema.Literals(["pending", "connected", "failed"])
export type AssistantStatus = typeof AssistantStatus.Type

/** `cancelled`: the business left; its number is parked (calls are rejected) until `releaseAt`, then released. */
export const BusinessStatus = Schema.Literals(["active", "cancelled"])
export type BusinessStatus = typeof BusinessStatus.Type

export class Business extends Schema.Class<Business>("numbers/Business")({
  id: BusinessId,
  ownerId: UserId,
  name: Schema.String,
  vapiAssistantId: AssistantId,
  // Kept as the owner typed it: an invalid request is skipped when buying, not rejected after the fact.
  requestedAreaCode: Schema.NullOr(Schema.String),
  trialId: TrialId,
  status: BusinessStatus,
  /** A cancelled business's number is released then (null: active, or nothing to release). */
  releaseAt: Schema.NullOr(Schema.DateTimeUtcFromString),
  numberStatus: NumberStatus,
  phoneNumber: Schema.NullOr(PhoneNumber),
  assistantStatus: AssistantStatus,
  failureReason: Schema.NullOr(Schema.String),
  createdAt: Schema.DateTimeUtcFromString,
  /** When anything about it last changed (its statuses, its number): a pending one has been pending since. */
  updatedAt: Schema.DateTimeUtcFromString
}) {}

/** How many businesses have each number status. */
export const NumberStatusCounts = Schema.Struct({
  pending: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  assigned: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  failed: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  released: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
}).annotate({ identifier: "NumberStatusCounts" })
export type NumberStatusCounts = typeof NumberStatusCounts.Type

/** Who a Vapi call belongs to: the business first, else the trial that shares its assistant. */
export const CallableKind = Schema.Literals(["business", "trial"])
export type CallableKind = typeof CallableKind.Type

/** Vapi's call statuses, as it reports them in `status-update`. */
export const CallStatus = Schema.Literals([
  "scheduled",
  "queued",
  "ringing",
  "in-progress",
  "forwarding",
  "ended"
])
export type CallStatus = typeof CallStatus.Type

export class Call extends Schema.Class<Call>("numbers/Call")({
  vapiCallId: VapiCallId,
  callableKind: CallableKind,
  callableId: Schema.String,
  status: CallStatus,
  endedReason: Schema.NullOr(Schema.String),
  from: Schema.NullOr(Schema.String),
  summary: Schema.NullOr(Schema.String),
  startedAt: Schema.NullOr(Schema.DateTimeUtcFromString),
  endedAt: Schema.NullOr(Schema.DateTimeUtcFromString)
}) {}
