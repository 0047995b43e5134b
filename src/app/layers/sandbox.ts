// Sandbox providers: a simulated Twilio inventory where some codes are empty and one is unknown, so the
// area-code fallback shows; an assistant provider that accepts every assistant.
import type { MemoryTelephonyOptions } from "../../adapters/memory/MemoryTelephony.ts"

export const sandboxTelephony: MemoryTelephonyOptions = {
  // 212 and 415 are sold out: a business asking for 212 gets 510 after two fallbacks.
  inventory: { "212": 0, "415": 0 },
  defaultStock: 50,
  // 555 passes our syntax check but Twilio does not know it (error 21451): skipped, not fatal.
  unknownAreaCodes: ["555"]
}
