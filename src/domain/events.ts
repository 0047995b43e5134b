// Events pushed to an owner's open dashboard. Small on purpose: they cross instances through Postgres NOTIFY (< 8 kB).
import { Schema } from "effect"
import { CallStatus } from "./entities.ts"
import { BusinessId } from "./ids.ts"

export class NumberAssigned extends Schema.TaggedClass<NumberAssigned>()("number.assigned", {
  businessId: BusinessId,
  phoneNumber: Schema.String,
  areaCode: Schema.NullOr(Schema.String),
  at: Schema.String
}) {}

export class NumberFailed extends Schema.TaggedClass<NumberFailed>()("number.failed", {
  businessId: BusinessId,
  reason: Schema.String,
  at: Schema.String
}) {}

/** The number works, but calls do not reach the assistant: Vapi refused to point it at us, or kept failing. */
export class AssistantFailed extends Schema.TaggedClass<AssistantFailed>()("assistant.failed", {
  businessId: BusinessId,
  reason: Schema.String,
  at: Schema.String
}) {}

export class CallUpdated extends Schema.TaggedClass<CallUpdated>()("call.updated", {
  businessId: BusinessId,
  callId: Schema.String,
  status: CallStatus,
  endedReason: Schema.NullOr(Schema.String),
  from: Schema.NullOr(Schema.String),
  at: Schema.String
}) {}

/** The business left: its number is kept (calls rejected) until `releaseAt` (null: it had no number). */
export class BusinessCancelled extends Schema.TaggedClass<BusinessCancelled>()("business.cancelled", {
  businessId: BusinessId,
  releaseAt: Schema.NullOr(Schema.String),
  at: Schema.String
}) {}

/** The business is back: calls ring through again (or a new number is on its way, if the old one was released). */
export class BusinessReactivated extends Schema.TaggedClass<BusinessReactivated>()("business.reactivated", {
  businessId: BusinessId,
  at: Schema.String
}) {}

/** The number went back to Twilio: it no longer answers, and is no longer billed. */
export class NumberReleased extends Schema.TaggedClass<NumberReleased>()("number.released", {
  businessId: BusinessId,
  phoneNumber: Schema.String,
  at: Schema.String
}) {}

export const OwnerEvent = Schema.Union([
  NumberAssigned,
  NumberFailed,
  AssistantFailed,
  CallUpdated,
  BusinessCancelled,
  BusinessReactivated,
  NumberReleased
])
export type OwnerEvent = typeof OwnerEvent.Type

/** The wire form of an event (`{ type, businessId, ..., at }`): the /cable events of docs/ARCHITECTURE.md. */
export const toWire = (event: OwnerEvent): Record<string, unknown> => {
  const { _tag, ...fields } = event
  return { type: _tag, ...fields }
}
