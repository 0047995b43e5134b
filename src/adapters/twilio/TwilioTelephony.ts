// Telephony on the official twilio SDK, pointed at TWILIO_API_URL. A purchase, by AreaCode or by PhoneNumber,
// is one round trip; Twilio's errors become the port's at this boundary (see docs/PROVIDERS.md, "Buying a
// number (Twilio)"), and a number Twilio no longer has (404/20404) is an answer, not an error ("Releasing and
// parking numbers").
import { DateTime, Effect, Layer, Redacted, Schema } from "effect"
import type { TwilioSid } from "../../domain/ids.ts"
import { E164 } from "../../domain/phone.ts"
import {
  InvalidAreaCode,
  type LocalSearch,
  NoNumbersInAreaCode,
  NumberTaken,
  OwnedNumber,
  type PurchaseRequest,
  Telephony,
  TelephonyRateLimited,
  TelephonyRejected,
  TelephonyUnavailable,
  tracePurchase
} from "../../ports/Telephony.ts"
import {
  makeFetchHttpClient,
  TwilioNoAnswer,
  TwilioRateLimitedResponse,
  withOperation
} from "./fetchHttpClient.ts"

export interface TwilioOptions {
  readonly accountSid: string
  readonly authToken: Redacted.Redacted<string>
  readonly apiUrl: string
  readonly timeoutMillis?: number
}

const RestError = Schema.Struct({ status: Schema.Number, code: Schema.optional(Schema.Number) })

/** Maps what a Twilio call threw; messages name the operation and Twilio's code, never credentials. */
const mapError =
  (operation: string) =>
  (error: unknown): TelephonyRateLimited | TelephonyUnavailable | TelephonyRejected => {
    if (error instanceof TwilioRateLimitedResponse)
      return new TelephonyRateLimited({ retryAfterMillis: error.retryAfterMillis })
    if (error instanceof TwilioNoAnswer)
      return new TelephonyUnavailable({ message: `${operation}: ${error.message}` })
    if (!Schema.is(RestError)(error))
      return new TelephonyUnavailable({ message: `${operation}: unexpected failure` })
    const { status, code } = error
    const detail = `${operation}: HTTP ${status}${code === undefined ? "" : ` (${code})`}`
    if (code === 20429 || status === 429) return new TelephonyRateLimited({ retryAfterMillis: 1_000 })
    // On a purchase by AreaCode: the number offered was taken between offer and purchase; another try may
    // succeed. (On a purchase by PhoneNumber it is NumberTaken: see mapPurchaseError.)
    if (code === 21422) return new TelephonyUnavailable({ message: `${detail}: number just taken` })
    if (status >= 500) return new TelephonyUnavailable({ message: detail })
    return new TelephonyRejected({ message: detail })
  }

/**
 * Twilio's answer for a number that is not on the account (404 with code 20404): released, or never ours. Both
 * are required: a 404 without Twilio's code (a wrong TWILIO_API_URL, a proxy) says nothing about the number.
 */
const isGone = (error: unknown) => Schema.is(RestError)(error) && error.status === 404 && error.code === 20404

/** `request`, answering `gone` when Twilio says the number is not on the account (see `isGone`). */
const unlessGone = <A, B>(request: Promise<A>, gone: B): Promise<A | B> =>
  request.catch((error: unknown) => {
    if (isGone(error)) return gone
    throw error
  })

/**
 * A purchase by area code also learns that the code is empty (21452) or unknown (21451); one by number that
 * the number is no longer for sale (21422, a definite answer: nothing was bought).
 */
const mapPurchaseError = (request: PurchaseRequest) => (error: unknown) => {
  const code = Schema.is(RestError)(error) ? error.code : undefined
  if (request.phoneNumber !== undefined)
    return code === 21422
      ? new NumberTaken({ phoneNumber: request.phoneNumber })
      : mapError("buy number")(error)
  if (code === 21452) return new NoNumbersInAreaCode({ areaCode: request.areaCode })
  if (code === 21451) return new InvalidAreaCode({ areaCode: request.areaCode })
  return mapError("buy number")(error)
}

const AvailableNumbers = Schema.Array(Schema.Struct({ phoneNumber: E164 }))

const IncomingNumber = Schema.Struct({
  sid: Schema.String,
  phoneNumber: Schema.String,
  friendlyName: Schema.NullOr(Schema.String),
  voiceUrl: Schema.NullOr(Schema.String),
  // The SDK turns Twilio's RFC 2822 `date_created` into a Date, and leaves a string it cannot parse as it is.
  dateCreated: Schema.Union([Schema.Date, Schema.String])
})

const toOwned = (raw: unknown) =>
  Effect.gen(function* () {
    const n = yield* Schema.decodeUnknownEffect(IncomingNumber)(raw)
    const dateCreated = yield* Effect.fromOption(DateTime.make(n.dateCreated))
    return yield* Schema.decodeUnknownEffect(OwnedNumber)({
      sid: n.sid,
      e164: n.phoneNumber,
      friendlyName: n.friendlyName ?? "",
      voiceUrl: n.voiceUrl,
      dateCreated
    })
  }).pipe(
    Effect.mapError(
      () => new TelephonyUnavailable({ message: "Twilio answered with a number we could not read" })
    )
  )

export const layer = (options: TwilioOptions) =>
  Layer.effect(
    Telephony,
    Effect.gen(function* () {
      // Loaded only when Twilio is configured: the SDK is large, and sandbox starts should not pay for it.
      const { default: twilio } = yield* Effect.promise(() => import("twilio"))
      const client = twilio(options.accountSid, Redacted.value(options.authToken), {
        httpClient: makeFetchHttpClient({ timeoutMillis: options.timeoutMillis ?? 10_000 }) as never,
        autoRetry: false
      })
      client.api.baseUrl = options.apiUrl.replace(/\/+$/, "")
      const account = client.api.v2010.accounts(options.accountSid)
      const numbers = account.incomingPhoneNumbers

      /** A call into the SDK; its requests are traced and counted as `operation` (fetchHttpClient.ts). */
      const call = <A, E>(operation: string, run: () => Promise<A>, mapFailure: (error: unknown) => E) =>
        Effect.flatMap(withOperation(operation, run), (traced) =>
          Effect.tryPromise({ try: traced, catch: mapFailure })
        )

      const findOwned = Effect.fn("Telephony.findOwned")(function* (friendlyName: string) {
        const listed = yield* call(
          "find_owned",
          () => numbers.list({ friendlyName, limit: 20 }),
          mapError("list numbers")
        )
        // Whether Twilio's FriendlyName filter is exact is not documented: match exactly here.
        const match = listed.find((n) => n.friendlyName === friendlyName)
        return match ? yield* toOwned(match) : null
      })

      const fetchNumber = Effect.fn("Telephony.fetch")(function* (sid: TwilioSid) {
        const found = yield* call(
          "fetch",
          () => unlessGone(numbers(sid).fetch(), null),
          mapError("fetch number")
        )
        return found === null ? null : yield* toOwned(found)
      })

      const searchLocal = Effect.fn("Telephony.searchLocal")(function* (search: LocalSearch) {
        yield* Effect.annotateCurrentSpan("telephony.region", search.region)
        const listed = yield* call(
          "search_local",
          () =>
            account.availablePhoneNumbers("US").local.list({ inRegion: search.region, limit: search.limit }),
          mapError("search numbers")
        )
        const found = yield* Schema.decodeUnknownEffect(AvailableNumbers)(listed).pipe(
          Effect.mapError(
            () => new TelephonyUnavailable({ message: "Twilio answered a search we could not read" })
          )
        )
        return found.slice(0, search.limit).map((n) => n.phoneNumber)
      })

      const purchase = Effect.fn("Telephony.purchase")(function* (request: PurchaseRequest) {
        const bought = yield* call(
          "purchase",
          () =>
            numbers.create({
              ...(request.phoneNumber === undefined
                ? { areaCode: request.areaCode }
                : { phoneNumber: request.phoneNumber }),
              voiceUrl: request.voiceUrl,
              voiceMethod: "POST",
              friendlyName: request.friendlyName
            }),
          mapPurchaseError(request)
        )
        yield* Effect.annotateCurrentSpan({ "twilio.sid": bought.sid })
        return yield* toOwned(bought)
      }, tracePurchase)

      const updateVoiceUrl = Effect.fn("Telephony.updateVoiceUrl")(function* (
        sid: TwilioSid,
        voiceUrl: string
      ) {
        yield* call(
          "update_voice_url",
          () => numbers(sid).update({ voiceUrl, voiceMethod: "POST" }),
          mapError("update voice URL")
        )
      })

      const release = Effect.fn("Telephony.release")(function* (sid: TwilioSid) {
        const removed = yield* call(
          "release",
          () => unlessGone(numbers(sid).remove(), false),
          mapError("release number")
        )
        // Already gone: an earlier DELETE went through and its 204 (or our record of it) was lost. Counting that
        // as done is what lets a release be retried after a crash, instead of failing on 404 forever.
        if (!removed) yield* Effect.annotateCurrentSpan("telephony.already_released", true)
      })

      return Telephony.of({ findOwned, fetch: fetchNumber, searchLocal, purchase, updateVoiceUrl, release })
    })
  )
