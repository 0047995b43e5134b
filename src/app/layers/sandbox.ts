// Sandbox providers: a simulated Twilio inventory where some codes are empty and one is unknown, so the
// area-code fallback shows; an assistant provider that accepts every assistant.
import type { SandboxTelephonyOptions } from "../../adapters/postgres/PgSandboxTelephony.ts"
import { DEFAULT_FALLBACK_AREA_CODES, NEARBY } from "../../domain/areaCodeChain.ts"

export const sandboxTelephony: SandboxTelephonyOptions = {
  // Manhattan (212 and its overlays 332, 646, 917) and 415 are sold out: a business asking for 212 walks the
  // overlays, then gets a New York number from the state's search (the sandbox's chain starts with `nearby`).
  inventory: { "212": 0, "332": 0, "646": 0, "917": 0, "415": 0 },
  // Every serial of the simulated numbering (+1 NXX 555 1000-9999) in the other codes.
  defaultStock: 9000,
  // 555 passes our syntax check but Twilio does not know it (error 21451): skipped, not fatal.
  unknownAreaCodes: ["555"]
}

/** FALLBACK_AREA_CODES when Twilio is simulated and the variable is unset: `nearby` first, to show it. */
export const SANDBOX_FALLBACK_AREA_CODES: ReadonlyArray<string> = [NEARBY, ...DEFAULT_FALLBACK_AREA_CODES]
