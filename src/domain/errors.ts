// Domain errors: what a use case can answer that a caller must act on.
import { Schema } from "effect"

export class TrialNotFound extends Schema.TaggedError<TrialNotFound>()("TrialNotFound", {
  trialId: Schema.String
}) {}

export class BusinessNotFound extends Schema.TaggedError<BusinessNotFound>()("BusinessNotFound", {
  businessId: Schema.String
}) {}

export class AlreadyAssigned extends Schema.TaggedError<AlreadyAssigned>()("AlreadyAssigned", {
  businessId: Schema.String
}) {}

/** Why an assignment ended as `failed`: stored on the business and shown to its owner. */
export const FailureReason = Schema.Literals([
  "no_numbers_available",
  "telephony_rejected",
  "telephony_unavailable",
  "assistant_not_found",
  "assistant_rejected",
  "assistant_unavailable",
  "retry_budget_exhausted"
])
export type FailureReason = typeof FailureReason.Type

/** The business was cancelled: it gets no number until it is reactivated. */
export class BusinessCancelled extends Schema.TaggedError<BusinessCancelled>()("BusinessCancelled", {
  businessId: Schema.String
}) {}

/** The business is active: its number is in use, and only a cancelled business's number is released. */
export class BusinessActive extends Schema.TaggedError<BusinessActive>()("BusinessActive", {
  businessId: Schema.String
}) {}
