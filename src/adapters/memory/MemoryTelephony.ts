// In-memory Telephony: an inventory per area code, injectable faults and a log of every purchase.
// It backs the tests and sandbox mode, so it behaves as Twilio does on every case the contract suite covers.
import { Context, Duration, Effect, Layer, Ref } from "effect"
import type { TwilioSid } from "../../domain/ids.ts"
import type { AreaCode, E164 } from "../../domain/phone.ts"
import {
  InvalidAreaCode,
  NoNumbersInAreaCode,
  OwnedNumber,
  Telephony,
  TelephonyRateLimited,
  TelephonyRejected,
  TelephonyUnavailable
} from "../../ports/Telephony.ts"

/** What the next call meets. `ambiguous` buys the number and then reports a 5xx (a lost response). */
export type TelephonyFault =
  | { readonly _tag: "rate-limited"; readonly retryAfterMillis: number }
  | { readonly _tag: "unavailable" }
  | { readonly _tag: "ambiguous" }
  | { readonly _tag: "rejected" }

export type TelephonyOperation = "findOwned" | "purchase" | "updateVoiceUrl" | "release"

export interface MemoryTelephonyOptions {
  /** Numbers for sale per area code; codes not listed have `defaultStock`. */
  readonly inventory?: Readonly<Record<string, number>>
  readonly defaultStock?: number
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
  readonly stock: Map<string, number>
  readonly sold: Map<string, number>
  readonly owned: Map<string, OwnedNumber>
  readonly purchases: Array<Purchase>
  readonly faults: Array<TelephonyFault>
  readonly calls: Array<TelephonyOperation>
}

/** The knobs and records tests and the sandbox need, next to the Telephony it controls. */
export class MemoryTelephonyControl extends Context.Service<
  MemoryTelephonyControl,
  {
    readonly setStock: (areaCode: string, count: number) => Effect.Effect<void>
    /** Faults are met in order, one per call (any operation). */
    readonly injectFaults: (faults: ReadonlyArray<TelephonyFault>) => Effect.Effect<void>
    readonly purchases: Effect.Effect<ReadonlyArray<Purchase>>
    readonly owned: Effect.Effect<ReadonlyArray<OwnedNumber>>
    readonly calls: Effect.Effect<ReadonlyArray<TelephonyOperation>>
  }
>()("numbers/adapters/memory/MemoryTelephonyControl") {}

const numberFor = (areaCode: string, serial: number): E164 =>
  `+1${areaCode}555${String(1000 + (serial % 9000)).padStart(4, "0")}` as E164

const sidFor = (serial: number): TwilioSid => `PN${serial.toString(16).padStart(32, "0")}` as TwilioSid

export const layer = (options: MemoryTelephonyOptions = {}) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const state = yield* Ref.make<State>({
        stock: new Map(Object.entries(options.inventory ?? {})),
        sold: new Map(),
        owned: new Map(),
        purchases: [],
        faults: [],
        calls: []
      })
      const unknown = new Set(options.unknownAreaCodes ?? [])
      const latency = Duration.fromInputUnsafe(options.latency ?? 0)
      let serial = 0

      // Every call takes the latency, records itself, and meets the next injected fault, if any.
      const enter = (operation: TelephonyOperation) =>
        Effect.gen(function* () {
          if (Duration.toMillis(latency) > 0) yield* Effect.sleep(latency)
          return yield* Ref.modify(state, (s) => {
            s.calls.push(operation)
            return [s.faults.shift(), s]
          })
        })

      const failWith = (fault: TelephonyFault) => {
        switch (fault._tag) {
          case "rate-limited":
            return new TelephonyRateLimited({ retryAfterMillis: fault.retryAfterMillis })
          case "rejected":
            return new TelephonyRejected({ message: "Authenticate (20003)" })
          default:
            return new TelephonyUnavailable({ message: "HTTP 503 from the telephony provider" })
        }
      }

      const findOwned = Effect.fn("Telephony.findOwned")(function* (friendlyName: string) {
        const fault = yield* enter("findOwned")
        if (fault && fault._tag !== "ambiguous") return yield* failWith(fault)
        const s = yield* Ref.get(state)
        return [...s.owned.values()].find((n) => n.friendlyName === friendlyName) ?? null
      })

      const purchase = Effect.fn("Telephony.purchase")(function* (request: {
        readonly areaCode: AreaCode
        readonly voiceUrl: string
        readonly friendlyName: string
      }) {
        const fault = yield* enter("purchase")
        if (fault && fault._tag !== "ambiguous") return yield* failWith(fault)
        if (unknown.has(request.areaCode)) return yield* new InvalidAreaCode({ areaCode: request.areaCode })
        const bought = yield* Ref.modify(state, (s) => {
          const left = s.stock.get(request.areaCode) ?? options.defaultStock ?? 0
          if (left <= 0) return [null, s]
          const sold = s.sold.get(request.areaCode) ?? 0
          s.stock.set(request.areaCode, left - 1)
          s.sold.set(request.areaCode, sold + 1)
          const sid = sidFor(++serial)
          const e164 = numberFor(request.areaCode, sold)
          const owned = new OwnedNumber({
            sid,
            e164,
            friendlyName: request.friendlyName,
            voiceUrl: request.voiceUrl
          })
          s.owned.set(sid, owned)
          s.purchases.push({ sid, e164, ...request })
          return [owned, s]
        })
        if (bought === null) return yield* new NoNumbersInAreaCode({ areaCode: request.areaCode })
        // The purchase went through but its answer was lost: the caller sees a 5xx.
        if (fault?._tag === "ambiguous") return yield* failWith(fault)
        return bought
      })

      const updateVoiceUrl = Effect.fn("Telephony.updateVoiceUrl")(function* (
        sid: TwilioSid,
        voiceUrl: string
      ) {
        const fault = yield* enter("updateVoiceUrl")
        if (fault) return yield* failWith(fault)
        const found = yield* Ref.modify(state, (s) => {
          const number = s.owned.get(sid)
          if (number) s.owned.set(sid, new OwnedNumber({ ...number, voiceUrl }))
          return [number !== undefined, s]
        })
        if (!found)
          return yield* new TelephonyRejected({ message: `no number ${sid} on this account (20404)` })
      })

      const release = Effect.fn("Telephony.release")(function* (sid: TwilioSid) {
        const fault = yield* enter("release")
        if (fault) return yield* failWith(fault)
        yield* Ref.update(state, (s) => {
          s.owned.delete(sid)
          return s
        })
      })

      const control = MemoryTelephonyControl.of({
        setStock: (areaCode, count) =>
          Ref.update(state, (s) => {
            s.stock.set(areaCode, count)
            return s
          }),
        injectFaults: (faults) =>
          Ref.update(state, (s) => {
            s.faults.push(...faults)
            return s
          }),
        purchases: Ref.get(state).pipe(Effect.map((s) => [...s.purchases])),
        owned: Ref.get(state).pipe(Effect.map((s) => [...s.owned.values()])),
        calls: Ref.get(state).pipe(Effect.map((s) => [...s.calls]))
      })

      return Context.make(Telephony, Telephony.of({ findOwned, purchase, updateVoiceUrl, release })).pipe(
        Context.add(MemoryTelephonyControl, control)
      )
    })
  )
