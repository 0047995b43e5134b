// Port: buying and managing phone numbers (Twilio in production).
import { Context, Effect, Exit, Option, Schema } from "effect"
import { TwilioSid } from "../domain/ids.ts"
import type { UsState } from "../domain/nearby.ts"
import { type AreaCode, E164 } from "../domain/phone.ts"

export class OwnedNumber extends Schema.Class<OwnedNumber>("numbers/ports/Telephony/OwnedNumber")({
  sid: TwilioSid,
  e164: E164,
  friendlyName: Schema.String,
  voiceUrl: Schema.NullOr(Schema.String),
  /** When the provider created it (Twilio's `date_created`): its monthly bill falls on this day of the month. */
  dateCreated: Schema.DateTimeUtc
}) {}

/** What to buy: any local number in an area code, or the one number a search listed. */
export type PurchaseTarget =
  | { readonly areaCode: AreaCode; readonly phoneNumber?: never }
  | { readonly phoneNumber: E164; readonly areaCode?: never }

export type PurchaseRequest = PurchaseTarget & {
  readonly voiceUrl: string
  readonly friendlyName: string
}

/** A search of Twilio's local numbers for sale in a state (`InRegion`), for at most `limit` of them. */
export interface LocalSearch {
  readonly region: UsState
  readonly limit: number
}

/** The area code has no local numbers for sale right now (Twilio 21452): try the next code. */
export class NoNumbersInAreaCode extends Schema.TaggedError<NoNumbersInAreaCode>()("NoNumbersInAreaCode", {
  areaCode: Schema.String
}) {}

/** The provider does not know this area code (Twilio 21451): skip it. */
export class InvalidAreaCode extends Schema.TaggedError<InvalidAreaCode>()("InvalidAreaCode", {
  areaCode: Schema.String
}) {}

/**
 * The number a search listed was sold before our purchase of it (Twilio 21422 on a purchase by PhoneNumber).
 * A definite answer: nothing was bought, so another listed number may be tried at once.
 */
export class NumberTaken extends Schema.TaggedError<NumberTaken>()("NumberTaken", {
  phoneNumber: Schema.String
}) {}

/** Too many requests (HTTP 429 / 20429): always safe to retry after `retryAfterMillis`. */
export class TelephonyRateLimited extends Schema.TaggedError<TelephonyRateLimited>()("TelephonyRateLimited", {
  retryAfterMillis: Schema.Number
}) {}

/**
 * 5xx, timeout, reset, or on a purchase by AreaCode a number taken between offer and purchase (21422).
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
  | NumberTaken
  | TelephonyRateLimited
  | TelephonyUnavailable
  | TelephonyRejected

/** What a purchase came to, as its span says (`telephony.outcome`). */
export type PurchaseOutcome =
  | "purchased"
  | "empty"
  | "invalid"
  | "taken"
  | "rate_limited"
  | "unavailable"
  | "rejected"

const purchaseOutcomes: { readonly [Tag in TelephonyError["_tag"]]: PurchaseOutcome } = {
  NoNumbersInAreaCode: "empty",
  InvalidAreaCode: "invalid",
  NumberTaken: "taken",
  TelephonyRateLimited: "rate_limited",
  TelephonyUnavailable: "unavailable",
  TelephonyRejected: "rejected"
}

/**
 * For an adapter's `Telephony.purchase` span (as the pipeable of its `Effect.fn`): the area code or number
 * asked for and the outcome, so a trace shows the walk down the area-code chain.
 */
export const tracePurchase = <A, R>(
  purchase: Effect.Effect<A, TelephonyError, R>,
  request: PurchaseRequest
): Effect.Effect<A, TelephonyError, R> =>
  (request.phoneNumber === undefined
    ? Effect.annotateCurrentSpan("telephony.area_code", request.areaCode)
    : Effect.annotateCurrentSpan("telephony.phone_number", request.phoneNumber)
  ).pipe(
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
  /**
   * Local numbers for sale in the state, at most `limit`; none is an empty list, not an error. Nothing is held
   * for us: a listed number can be sold to someone else before we buy it (NumberTaken).
   */
  readonly searchLocal: (
    search: LocalSearch
  ) => Effect.Effect<ReadonlyArray<E164>, TelephonyRateLimited | TelephonyUnavailable | TelephonyRejected>
  /**
   * Buys a local number in one round trip: any in the area code (an empty or unknown code is
   * NoNumbersInAreaCode or InvalidAreaCode), or the number given (one no longer for sale is NumberTaken).
   */
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
