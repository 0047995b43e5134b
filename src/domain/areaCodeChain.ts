// Which area codes to try, in order, when buying a business its number.
import { type AreaCode, isAreaCode } from "./phone.ts"

export const DEFAULT_FALLBACK_AREA_CODES: ReadonlyArray<string> = ["415", "510", "650"]

/**
 * The owner's requested code first, then the configured fallbacks. Codes that
 * are not valid NANP area codes are dropped (an invalid request is skipped,
 * never fatal), and each code appears once, at its first position.
 */
export const areaCodeChain = (
  requested: string | null | undefined,
  fallbacks: ReadonlyArray<string>
): ReadonlyArray<AreaCode> => {
  const chain: Array<AreaCode> = []
  for (const code of requested == null ? fallbacks : [requested, ...fallbacks]) {
    const trimmed = code.trim()
    if (isAreaCode(trimmed) && !chain.includes(trimmed)) chain.push(trimmed)
  }
  return chain
}
