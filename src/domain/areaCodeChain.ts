// Where to look, in order, when buying a business its number: area codes, and with `nearby` a state's search.
import { nearbyOf, type UsState } from "./nearby.ts"
import { type AreaCode, isAreaCode } from "./phone.ts"

export const DEFAULT_FALLBACK_AREA_CODES: ReadonlyArray<string> = ["415", "510", "650"]

/**
 * The FALLBACK_AREA_CODES element meaning "near the requested code", at its place in the chain: the codes that
 * overlay the requested one (the same area), then a search of its state. Nothing for a request that is not a
 * US state's code (Canadian, say), or for no request.
 */
export const NEARBY = "nearby"

/** One place to look: a purchase by AreaCode, or a search of a state's local numbers and a purchase by number. */
export type ChainStep =
  | { readonly _tag: "AreaCode"; readonly areaCode: AreaCode }
  | { readonly _tag: "Region"; readonly region: UsState }

/** What FALLBACK_AREA_CODES may list: area codes, and `nearby`. */
export const isFallbackEntry = (entry: string): boolean => entry === NEARBY || isAreaCode(entry)

/** How a step shows in logs and in AllAreaCodesEmpty: `415`, or `state NY` for a search. */
export const stepLabel = (step: ChainStep): string =>
  step._tag === "AreaCode" ? step.areaCode : `state ${step.region}`

/**
 * The owner's requested code first, then the configured fallbacks, `nearby` expanded around the requested
 * code. Entries that are not valid NANP area codes (or `nearby`) are dropped (an invalid request is skipped,
 * never fatal), and each code or state appears once, at its first position.
 */
export const purchaseChain = (
  requested: string | null | undefined,
  fallbacks: ReadonlyArray<string>
): ReadonlyArray<ChainStep> => {
  const steps: Array<ChainStep> = []
  const add = (step: ChainStep) => {
    if (!steps.some((s) => stepLabel(s) === stepLabel(step))) steps.push(step)
  }
  const near = requested?.trim() ?? ""
  if (isAreaCode(near)) add({ _tag: "AreaCode", areaCode: near })
  for (const entry of fallbacks.map((e) => e.trim())) {
    if (isAreaCode(entry)) add({ _tag: "AreaCode", areaCode: entry })
    const around = entry === NEARBY && isAreaCode(near) ? nearbyOf(near) : null
    if (around === null) continue
    for (const areaCode of around.overlays) add({ _tag: "AreaCode", areaCode })
    add({ _tag: "Region", region: around.state })
  }
  return steps
}

/** The chain's area codes, bought by AreaCode, in order (its state searches left out). */
export const areaCodeChain = (
  requested: string | null | undefined,
  fallbacks: ReadonlyArray<string>
): ReadonlyArray<AreaCode> =>
  purchaseChain(requested, fallbacks).flatMap((step) => (step._tag === "AreaCode" ? [step.areaCode] : []))
