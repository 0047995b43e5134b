// In-memory Telephony: an inventory per area code and per state, injectable faults and a log of every purchase.
// It backs the tests and sandbox mode, so it behaves as Twilio does on every case the contract suite covers.
// Its state is one immutable value in a Ref: every operation is a pure step from one state to the next.
import { Context, DateTime, Duration, Effect, Layer, Ref } from "effect"
import { TwilioSid } from "../../domain/ids.ts"
import { type AreaCode, areaCodeOf, E164 } from "../../domain/phone.ts"
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
  TelephonyUnavailable
} from "../../ports/Telephony.ts"

/** The calls, as the log names them: `purchase` buys by AreaCode, `purchaseNumber` by PhoneNumber. */
export type TelephonyOperation =
  | "findOwned"
  | "fetch"
  | "searchLocal"
  | "purchase"
  | "purchaseNumber"
  | "updateVoiceUrl"
  | "release"

/**
 * What a call meets. `ambiguous` buys the number (or releases it) and then reports a 5xx (a lost response); a
 * lookup it meets answers as usual. `late` times out (a TelephonyUnavailable) while the request still goes
 * through `afterMillis` later, on the clock: a purchase lands then (a FriendlyName lookup before that finds
 * nothing), as do a voice URL update and a release. `taken` is met by a purchase by number only: someone else
 * bought the number after the search listed it (it leaves the inventory), and the purchase is NumberTaken.
 *
 * A fault with an `operation` is met only by a call of that operation; one without, by a call of any.
 * Faults are met in the order they were injected, one per call: a call meets the first one that applies to it.
 */
export type TelephonyFault = (
  | { readonly _tag: "rate-limited"; readonly retryAfterMillis: number }
  | { readonly _tag: "unavailable" }
  | { readonly _tag: "ambiguous" }
  | { readonly _tag: "rejected" }
  | { readonly _tag: "late"; readonly afterMillis: number }
  | { readonly _tag: "taken" }
) & { readonly operation?: TelephonyOperation }

export interface MemoryTelephonyOptions {
  /** Numbers for sale per area code; codes not listed have `defaultStock`. */
  readonly inventory?: Readonly<Record<string, number>>
  readonly defaultStock?: number
  /**
   * Numbers for sale per state (what `searchLocal` lists, and a purchase by number takes), apart from the
   * area codes' stock: a state's list is its own, not the sum of its codes'.
   */
  readonly regions?: Readonly<Record<string, ReadonlyArray<string>>>
  /** Codes the provider refuses as unknown (Twilio 21451). */
  readonly unknownAreaCodes?: ReadonlyArray<string>
  readonly latency?: Duration.Input
}

export interface Purchase {
  readonly sid: TwilioSid
  readonly e164: E164
  readonly areaCode: AreaCode
  readonly friendlyName: string
  readonly voiceUrl: string
}

interface State {
  /** Numbers left per area code (codes not listed have the default stock). */
  readonly stock: Readonly<Record<string, number>>
  /** Numbers sold per area code: the next number's serial in that code. */
  readonly sold: Readonly<Record<string, number>>
  /** Numbers for sale per state, in the order a search lists them. */
  readonly regions: Readonly<Record<string, ReadonlyArray<E164>>>
  /** The account's numbers, in the order they were bought (a released number is gone from it). */
  readonly owned: ReadonlyArray<OwnedNumber>
  readonly purchases: ReadonlyArray<Purchase>
  readonly faults: ReadonlyArray<TelephonyFault>
  readonly calls: ReadonlyArray<TelephonyOperation>
  /** Purchases made so far: the next SID's serial. */
  readonly serial: number
}

/** The knobs and records tests and the sandbox need, next to the Telephony it controls. */
export class MemoryTelephonyControl extends Context.Service<
  MemoryTelephonyControl,
  {
    readonly setStock: (areaCode: string, count: number) => Effect.Effect<void>
    /** Queues faults after those not met yet; see `TelephonyFault` for which call meets which. */
    readonly injectFaults: (faults: ReadonlyArray<TelephonyFault>) => Effect.Effect<void>
    /** Drops every fault not met yet. */
    readonly clearFaults: Effect.Effect<void>
    readonly purchases: Effect.Effect<ReadonlyArray<Purchase>>
    readonly owned: Effect.Effect<ReadonlyArray<OwnedNumber>>
    readonly calls: Effect.Effect<ReadonlyArray<TelephonyOperation>>
    /** Renames a number, as a person in Twilio's console could (a release must then refuse it). */
    readonly rename: (sid: TwilioSid, friendlyName: string) => Effect.Effect<void>
  }
>()("numbers/adapters/memory/MemoryTelephonyControl") {}

const numberFor = (areaCode: string, serial: number): E164 =>
  E164.make(`+1${areaCode}555${String(1000 + (serial % 9000)).padStart(4, "0")}`)

const sidFor = (serial: number): TwilioSid => TwilioSid.make(`PN${serial.toString(16).padStart(32, "0")}`)

/** A count kept per area code (own keys only: an area code is data, never a prototype's property). */
const countIn = (counts: Readonly<Record<string, number>>, areaCode: string): number | undefined =>
  Object.hasOwn(counts, areaCode) ? counts[areaCode] : undefined

const appliesTo = (operation: TelephonyOperation) => (fault: TelephonyFault) =>
  (fault.operation === undefined || fault.operation === operation) &&
  (fault._tag !== "taken" || operation === "purchaseNumber")

/** Records the call and takes the first fault that applies to it, if any. */
const enterStep =
  (operation: TelephonyOperation) =>
  (s: State): readonly [TelephonyFault | undefined, State] => {
    const at = s.faults.findIndex(appliesTo(operation))
    return [
      s.faults[at],
      {
        ...s,
        calls: [...s.calls, operation],
        faults: at === -1 ? s.faults : [...s.faults.slice(0, at), ...s.faults.slice(at + 1)]
      }
    ]
  }

/** The state without the number in any state's list (bought by us, or by someone else). */
const unlist =
  (e164: E164) =>
  (s: State): State => ({
    ...s,
    regions: Object.fromEntries(
      Object.entries(s.regions).map(([r, list]) => [r, list.filter((n) => n !== e164)])
    )
  })

/** Takes the next number in the code off the shelf, or nothing (null) when the code has none left. */
const takeInCode =
  (areaCode: AreaCode, defaultStock: number) =>
  (s: State): readonly [E164, State] | null => {
    const left = countIn(s.stock, areaCode) ?? defaultStock
    if (left <= 0) return null
    const sold = countIn(s.sold, areaCode) ?? 0
    return [
      numberFor(areaCode, sold),
      { ...s, stock: { ...s.stock, [areaCode]: left - 1 }, sold: { ...s.sold, [areaCode]: sold + 1 } }
    ]
  }

/** Takes the number off its state's list, or nothing (null) when no state lists it any more. */
const takeListed =
  (e164: E164) =>
  (s: State): readonly [E164, State] | null =>
    Object.values(s.regions).some((list) => list.includes(e164)) ? [e164, unlist(e164)(s)] : null

/** Buys what the request asks for at `now`, or nothing (null) when it is not for sale. */
const purchaseStep =
  (request: PurchaseRequest, defaultStock: number, now: DateTime.Utc) =>
  (before: State): readonly [OwnedNumber | null, State] => {
    const taken =
      request.phoneNumber === undefined
        ? takeInCode(request.areaCode, defaultStock)(before)
        : takeListed(request.phoneNumber)(before)
    const areaCode = taken && areaCodeOf(taken[0])
    if (!taken || !areaCode) return [null, before]
    const [e164, s] = taken
    const serial = s.serial + 1
    const sid = sidFor(serial)
    const owned = new OwnedNumber({
      sid,
      e164,
      friendlyName: request.friendlyName,
      voiceUrl: request.voiceUrl,
      dateCreated: now
    })
    const purchase: Purchase = {
      sid,
      e164,
      areaCode,
      friendlyName: request.friendlyName,
      voiceUrl: request.voiceUrl
    }
    return [
      owned,
      {
        ...s,
        owned: [...s.owned, owned],
        purchases: [...s.purchases, purchase],
        serial
      }
    ]
  }

/** Points the number at `voiceUrl`; false when the account has no such number. */
const updateVoiceUrlStep =
  (sid: TwilioSid, voiceUrl: string) =>
  (s: State): readonly [boolean, State] =>
    s.owned.some((n) => n.sid === sid)
      ? [
          true,
          {
            ...s,
            owned: s.owned.map((n) => (n.sid === sid ? new OwnedNumber({ ...n, voiceUrl }) : n))
          }
        ]
      : [false, s]

/** Gives the number back; a SID the account does not own (released, or never ours) leaves it as it is. */
const releaseStep =
  (sid: TwilioSid) =>
  (s: State): State => ({ ...s, owned: s.owned.filter((n) => n.sid !== sid) })

export const layer = (options: MemoryTelephonyOptions = {}) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const state = yield* Ref.make<State>({
        stock: { ...options.inventory },
        sold: {},
        regions: Object.fromEntries(
          Object.entries(options.regions ?? {}).map(([region, list]) => [
            region,
            list.map((n) => E164.make(n))
          ])
        ),
        owned: [],
        purchases: [],
        faults: [],
        calls: [],
        serial: 0
      })
      const unknown = new Set(options.unknownAreaCodes ?? [])
      const defaultStock = options.defaultStock ?? 0
      const latency = Duration.fromInputUnsafe(options.latency ?? 0)
      // Late requests land in fibers owned by the layer: they outlive the call that timed out, not the layer.
      const scope = yield* Effect.scope

      // Every call takes the latency, records itself, and meets the next injected fault that applies, if any.
      const enter = (operation: TelephonyOperation) =>
        Effect.gen(function* () {
          if (Duration.toMillis(latency) > 0) yield* Effect.sleep(latency)
          return yield* Ref.modify(state, enterStep(operation))
        })

      const failWith = (fault: TelephonyFault, operation: TelephonyOperation) => {
        switch (fault._tag) {
          case "rate-limited":
            return new TelephonyRateLimited({ retryAfterMillis: fault.retryAfterMillis })
          case "rejected":
            return new TelephonyRejected({ message: "Authenticate (20003)" })
          case "late":
            return new TelephonyUnavailable({ message: `the ${operation} request timed out` })
          default:
            return new TelephonyUnavailable({ message: "HTTP 503 from the telephony provider" })
        }
      }

      /** A timed-out request that still goes through: `land` runs `afterMillis` later, on the clock. */
      const landLate = (afterMillis: number, land: Effect.Effect<unknown>) =>
        Effect.sleep(Duration.millis(afterMillis)).pipe(
          Effect.andThen(land),
          Effect.forkIn(scope, { startImmediately: true }),
          Effect.asVoid
        )

      const findOwned = Effect.fn("Telephony.findOwned")(function* (friendlyName: string) {
        const fault = yield* enter("findOwned")
        if (fault && fault._tag !== "ambiguous") return yield* failWith(fault, "findOwned")
        const s = yield* Ref.get(state)
        return s.owned.find((n) => n.friendlyName === friendlyName) ?? null
      })

      const fetchNumber = Effect.fn("Telephony.fetch")(function* (sid: TwilioSid) {
        const fault = yield* enter("fetch")
        if (fault && fault._tag !== "ambiguous") return yield* failWith(fault, "fetch")
        const s = yield* Ref.get(state)
        return s.owned.find((n) => n.sid === sid) ?? null
      })

      /** Buys in the clock's present: a number's creation date is when the purchase landed. */
      const buy = (request: PurchaseRequest) =>
        Effect.flatMap(DateTime.now, (now) => Ref.modify(state, purchaseStep(request, defaultStock, now)))

      const searchLocal = Effect.fn("Telephony.searchLocal")(function* (search: LocalSearch) {
        const fault = yield* enter("searchLocal")
        if (fault && fault._tag !== "ambiguous") return yield* failWith(fault, "searchLocal")
        const s = yield* Ref.get(state)
        return (Object.hasOwn(s.regions, search.region) ? (s.regions[search.region] ?? []) : []).slice(
          0,
          search.limit
        )
      })

      const purchase = Effect.fn("Telephony.purchase")(function* (request: PurchaseRequest) {
        const operation = request.phoneNumber === undefined ? "purchase" : "purchaseNumber"
        const fault = yield* enter(operation)
        const known = request.phoneNumber !== undefined || !unknown.has(request.areaCode)
        if (fault?._tag === "late") {
          // Timed out on our side; the provider buys the number later, if the code is real and still has one.
          if (known) yield* landLate(fault.afterMillis, buy(request))
          return yield* failWith(fault, operation)
        }
        if (fault?._tag === "taken" && request.phoneNumber !== undefined) {
          yield* Ref.update(state, unlist(request.phoneNumber))
          return yield* new NumberTaken({ phoneNumber: request.phoneNumber })
        }
        if (fault && fault._tag !== "ambiguous") return yield* failWith(fault, operation)
        if (request.phoneNumber === undefined && !known)
          return yield* new InvalidAreaCode({ areaCode: request.areaCode })
        const bought = yield* buy(request)
        if (bought === null)
          return yield* request.phoneNumber === undefined
            ? new NoNumbersInAreaCode({ areaCode: request.areaCode })
            : new NumberTaken({ phoneNumber: request.phoneNumber })
        // The purchase went through but its answer was lost: the caller sees a 5xx.
        if (fault?._tag === "ambiguous") return yield* failWith(fault, operation)
        return bought
      })

      const updateVoiceUrl = Effect.fn("Telephony.updateVoiceUrl")(function* (
        sid: TwilioSid,
        voiceUrl: string
      ) {
        const fault = yield* enter("updateVoiceUrl")
        if (fault?._tag === "late")
          yield* landLate(
            fault.afterMillis,
            Ref.update(state, (s) => updateVoiceUrlStep(sid, voiceUrl)(s)[1])
          )
        if (fault) return yield* failWith(fault, "updateVoiceUrl")
        const found = yield* Ref.modify(state, updateVoiceUrlStep(sid, voiceUrl))
        if (!found)
          return yield* new TelephonyRejected({ message: `no number ${sid} on this account (20404)` })
      })

      // Releasing a number the account does not own succeeds, as Twilio's 404/20404 counts as released.
      const release = Effect.fn("Telephony.release")(function* (sid: TwilioSid) {
        const fault = yield* enter("release")
        if (fault?._tag === "late") yield* landLate(fault.afterMillis, Ref.update(state, releaseStep(sid)))
        // Released, but the answer is lost: the caller's retry then finds the number already gone.
        if (fault?._tag === "ambiguous") yield* Ref.update(state, releaseStep(sid))
        if (fault) return yield* failWith(fault, "release")
        yield* Ref.update(state, releaseStep(sid))
      })

      const control = MemoryTelephonyControl.of({
        setStock: (areaCode, count) =>
          Ref.update(state, (s) => ({ ...s, stock: { ...s.stock, [areaCode]: count } })),
        injectFaults: (faults) => Ref.update(state, (s) => ({ ...s, faults: [...s.faults, ...faults] })),
        clearFaults: Ref.update(state, (s) => ({ ...s, faults: [] })),
        purchases: Effect.map(Ref.get(state), (s) => s.purchases),
        owned: Effect.map(Ref.get(state), (s) => s.owned),
        calls: Effect.map(Ref.get(state), (s) => s.calls),
        rename: (sid, friendlyName) =>
          Ref.update(state, (s) => ({
            ...s,
            owned: s.owned.map((n) => (n.sid === sid ? new OwnedNumber({ ...n, friendlyName }) : n))
          }))
      })

      return Context.make(
        Telephony,
        Telephony.of({ findOwned, fetch: fetchNumber, searchLocal, purchase, updateVoiceUrl, release })
      ).pipe(Context.add(MemoryTelephonyControl, control))
    })
  )
