// Missing or malformed configuration stops startup with one line naming the variable (and no secret).
import { describe, expect, it } from "vitest"
import { spawnService } from "../support/processes.ts"

describe("startup configuration", () => {
  it.each([
    [
      { TWILIO_ACCOUNT_SID: "AC1", TWILIO_AUTH_TOKEN: "tok-secret-1", AUTH_SECRET: "a" },
      "VAPI_WEBHOOK_SECRET is required"
    ],
    [
      { TWILIO_ACCOUNT_SID: "AC1", TWILIO_AUTH_TOKEN: "tok-secret-1", VAPI_WEBHOOK_SECRET: "v" },
      "AUTH_SECRET is required"
    ],
    [{ TWILIO_ACCOUNT_SID: "AC1" }, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set together"],
    [{ PORT: "eighty" }, "PORT is invalid"],
    [{ ROLE: "boss" }, "ROLE is invalid"],
    [{ FALLBACK_AREA_CODES: "415,911" }, "FALLBACK_AREA_CODES must be a comma list"]
  ])("%j stops with: %s", { timeout: 30_000 }, async (env, line) => {
    const service = spawnService({ DATABASE_URL: "postgres://127.0.0.1:1/none", ...env })
    expect(await service.exited).toBe(1)
    const output = service.output()
    expect(output).toContain(`numbers: configuration: ${line}`)
    expect(output.trim().split("\n").length).toBeLessThanOrEqual(2)
    expect(output).not.toContain("tok-secret-1")
  })
})
