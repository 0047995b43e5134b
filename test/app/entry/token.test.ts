// `bun run token`: each role's token, as the service verifies it; an operator's lives 12 hours.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { decodeJwt } from "jose"
import { verifyToken } from "../../../src/app/http/auth.ts"

const SECRET = "token-cli-test-secret"
const script = new URL("../../../src/app/entry/token.ts", import.meta.url).pathname

const token = (...args: ReadonlyArray<string>) => {
  const run = Bun.spawnSync(["bun", script, ...args], { env: { ...process.env, AUTH_SECRET: SECRET } })
  return { code: run.exitCode, out: run.stdout.toString().trim(), err: run.stderr.toString() }
}

describe("bun run token", () => {
  it.effect("--operator prints an operator token valid 12 hours", () =>
    Effect.gen(function* () {
      const { code, out } = token("--operator")
      expect(code).toBe(0)
      expect(yield* verifyToken(Redacted.make(SECRET), out)).toEqual({ role: "operator" })
      const { iat = 0, exp = 0 } = decodeJwt(out)
      expect(exp - iat).toBe(12 * 60 * 60)
    })
  )

  it.effect("--service and --owner print theirs; anything else is the usage", () =>
    Effect.gen(function* () {
      const userId = crypto.randomUUID()
      expect(yield* verifyToken(Redacted.make(SECRET), token("--service").out)).toEqual({ role: "service" })
      expect(yield* verifyToken(Redacted.make(SECRET), token("--owner", userId).out)).toEqual({
        role: "owner",
        userId
      })
      for (const args of [[], ["--owner"], ["--admin"]]) {
        const refused = token(...args)
        expect([refused.code, refused.out]).toEqual([2, ""])
        expect(refused.err).toContain("--operator")
      }
    })
  )
})
