// Port: buying and managing phone numbers (Twilio in production).
import { Context, Effect, Exit, Option, Schema } from "effect"
import { TwilioSid } from "../domain/ids.ts"
import { type AreaCode, E164 } from "../domain/phone.ts"

export class OwnedNumber extends Schema.Class<OwnedNumber>("numbers/ports/Telephony/OwnedNumber")({
  sid: TwilioSid,
  e164: E164,
  friendlyName: Schema.String,
  voiceUrl: Schema.NullOr(Schema.String),
  /** When the provider created it (Twilio's `date_created`): its monthly bill falls on this day of the month. */
  dateCreated: Schema.DateTimeUtc
}) {}

export interface PurchaseRequest {
  readonly areaCode: AreaCode
  readonly voiceUrl: string
  readonly friendlyName: string
}

/** The area code has no local numbers for sale right now (Twilio 21452): try the next code. */
export class NoNumbersInAreaCode extends Schema.TaggedError<NoNumbersInAreaCode>()("NoNumbersInAreaCode", {
  areaCode: Schema.String
}) {}

/** The provider does not know this area code (Twilio 21451): skip it. */
export class InvalidAreaCode extends Schema.TaggedError<InvalidAreaCode>()("InvalidAreaCode", {
  areaCode: Schema.String
}) {}

/** Too many requests (HTTP 429 / 20429): always safe to retry after `retryAfterMillis`. */
export class TelephonyRateLimited extends Schema.TaggedError<TelephonyRateLimited>()("TelephonyRateLimited", {
  retryAfterMillis: Schema.Number
}) {}

/**
 * 5xx, timeout, reset, or a number taken between offer and purchase (21422).
 * Retryable, and ambiguous for a purchase: the number may have been bought, so
 * look it up by FriendlyName before buying again.
 */
export class TelephonyUnavailable extends Schema.TaggedError<TelephonyUnavailable>()("TelephonyUnavailable", {
  message: Schema.String
}) {}

/** Credentials, account or permission problems: retrying cannot help. */
export class TelephonyRejected extends Schema.TaggedError<TelephonyRejected>()("TelephonyRejected", {
  message: Schema.String
}) {}

export type TelephonyError =
  | NoNumbersInAreaCode
  | InvalidAreaCode
  | TelephonyRateLimited
  | TelephonyUnavailable
  | TelephonyRejected

/** What a purchase came to, as its span says (`telephony.outcome`). */
export type PurchaseOutcome = "purchased" | "empty" | "invalid" | "rate_limited" | "unavailable" | "rejected"

const purchaseOutcomes: { readonly [Tag in TelephonyError["_tag"]]: PurchaseOutcome } = {
  NoNumbersInAreaCode: "empty",
  InvalidAreaCode: "invalid",
  TelephonyRateLimited: "rate_limited",
  TelephonyUnavailable: "unavailable",
  TelephonyRejected: "rejected"
}

/**
 * For an adapter's `Telephony.purchase` span (as the pipeable of its `Effect.fn`): the area code asked for and
 * the outcome, so a trace shows the walk down the area-code chain.
 */
export const tracePurchase = <A, R>(
  purchase: Effect.Effect<A, TelephonyError, R>,
  request: PurchaseRequest
): Effect.Effect<A, TelephonyError, R> =>
  Effect.annotateCurrentSpan("telephony.area_code", request.areaCode).pipe(
    Effect.andThen(purchase),
    Effect.onExit((exit) =>
      Effect.annotateCurrentSpan(
        "telephony.outcome",
        Exit.isSuccess(exit)
          ? "purchased"
          : Option.match(Exit.findErrorOption(exit), {
              onNone: () => "unavailable",
              onSome: (error) => purchaseOutcomes[error._tag]
            })
      )
    )
  )

export interface TelephonyShape {
  /** The number we own with this FriendlyName, if any (how an interrupted purchase is found again). */
  readonly findOwned: (
    friendlyName: string
  ) => Effect.Effect<OwnedNumber | null, TelephonyRateLimited | TelephonyUnavailable | TelephonyRejected>
  /** The number we own with this SID; null when there is none (Twilio 404/20404: released, or never ours). */
  readonly fetch: (
    sid: TwilioSid
  ) => Effect.Effect<OwnedNumber | null, TelephonyRateLimited | TelephonyUnavailable | TelephonyRejected>
  /** Buys a local number in the area code, in one round trip. */
  readonly purchase: (request: PurchaseRequest) => Effect.Effect<OwnedNumber, TelephonyError>
  readonly updateVoiceUrl: (
    sid: TwilioSid,
    voiceUrl: string
  ) => Effect.Effect<void, TelephonyRateLimited | TelephonyUnavailable | TelephonyRejected>
  /**
   * Gives the number back (it stops answering and billing at once). A number already gone (404/20404) counts as
   * released, so a release is safe to repeat.
   */
  readonly release: (
    sid: TwilioSid
  ) => Effect.Effect<void, TelephonyRateLimited | TelephonyUnavailable | TelephonyRejected>
}

export class Telephony extends Context.Service<Telephony, TelephonyShape>()("numbers/ports/Telephony") {}
