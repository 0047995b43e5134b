// Phone-number value types and their formatting rules (North American Numbering Plan).
import { Schema } from "effect"

/**
 * A NANP area code: three digits, the first 2-9, and not an N11 service code
 * (211, 311, ... 911), which are never assigned to a region.
 */
export const AreaCode = Schema.String.check(
  Schema.isPattern(/^[2-9](?!11)\d{2}$/, {
    message: "an area code is three digits, the first 2-9, and not N11 (like 411)"
  })
).pipe(Schema.brand("AreaCode"))
export type AreaCode = typeof AreaCode.Type

/** A phone number in E.164: `+`, country code, subscriber number, at most 15 digits. */
export const E164 = Schema.String.check(
  Schema.isPattern(/^\+[1-9]\d{6,14}$/, { message: "a phone number in E.164 form, like +14155550123" })
).pipe(Schema.brand("E164"))
export type E164 = typeof E164.Type

export const isAreaCode = Schema.is(AreaCode)

const northAmerican = /^\+1([2-9]\d{2})([2-9]\d{2})(\d{4})$/

/** The area code of a North American number, or null for any other. */
export const areaCodeOf = (e164: E164): AreaCode | null => {
  const match = northAmerican.exec(e164)
  return match?.[1] !== undefined && isAreaCode(match[1]) ? match[1] : null
}

/** `(415) 555-0123` for North American numbers; anything else stays in E.164. */
export const formatNational = (e164: E164): string => {
  const match = northAmerican.exec(e164)
  return match ? `(${match[1]}) ${match[2]}-${match[3]}` : e164
}
