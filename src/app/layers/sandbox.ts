// Sandbox providers: a simulated Twilio inventory where some codes are empty and one is unknown, so the
// area-code fallback shows; an assistant provider that accepts every assistant.
import type { SandboxTelephonyOptions } from "../../adapters/postgres/PgSandboxTelephony.ts"

export const sandboxTelephony: SandboxTelephonyOptions = {
  // 212 and 415 are sold out: a business asking for 212 gets 510 after two fallbacks.
  inventory: { "212": 0, "415": 0 },
  // Every serial of the simulated numbering (+1 NXX 555 1000-9999) in the other codes.
  defaultStock: 9000,
  // 555 passes our syntax check but Twilio does not know it (error 21451): skipped, not fatal.
  unknownAreaCodes: ["555"]
}
