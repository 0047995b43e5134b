// What is near a US area code: the codes that overlay it (the same area, numbered anew) and its state, from
// NANPA's NPA report (src/domain/data/README.md). The table is data of ours, never fetched at run time.
import { Schema } from "effect"
import { US_AREA_CODES } from "./data/usAreaCodes.ts"
import { AreaCode } from "./phone.ts"

/** A US state or DC as Twilio's `InRegion` takes it: its two-letter postal code. */
export const UsState = Schema.String.check(
  Schema.isPattern(/^[A-Z]{2}$/, { message: "a US state's two-letter postal code, like NY" })
).pipe(Schema.brand("UsState"))
export type UsState = typeof UsState.Type

export interface Nearby {
  /** The other codes of its overlay complex (212: 332, 646 and 917), in numeric order; often none. */
  readonly overlays: ReadonlyArray<AreaCode>
  readonly state: UsState
}

// Decoded once, at load: a malformed generated table stops the service at startup instead of misleading it.
const table: { readonly [areaCode: string]: Nearby } = Schema.decodeUnknownSync(
  Schema.Record(AreaCode, Schema.Struct({ state: UsState, overlays: Schema.Array(AreaCode) }))
)(US_AREA_CODES)

/** Null for a code that is not a US state's in service: Canadian, Caribbean, non-geographic, unassigned. */
export const nearbyOf = (areaCode: AreaCode): Nearby | null =>
  Object.hasOwn(table, areaCode) ? (table[areaCode] ?? null) : null

/** The state's in-service area codes, in numeric order (what a simulated Twilio sells in that state). */
export const areaCodesIn = (state: UsState): ReadonlyArray<AreaCode> =>
  Object.keys(table)
    .filter((code): code is AreaCode => table[code]?.state === state)
    .sort()
