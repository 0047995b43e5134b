// Token verification, including the cache of tokens already verified: it must never outlive a token.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, Result } from "effect"
import { signToken, verifyToken } from "../../src/app/auth.ts"

const secret = Redacted.make("auth-test-secret")

describe("verifyToken", () => {
  it.live("accepts a token again from its cache, and refuses it once it has expired", () =>
    Effect.gen(function* () {
      const token = yield* signToken(secret, { role: "owner", sub: "user-1" }, "2s")
      expect(yield* verifyToken(secret, token)).toEqual({ role: "owner", userId: "user-1" })
      expect(yield* verifyToken(secret, token)).toEqual({ role: "owner", userId: "user-1" })
      yield* Effect.sleep("2100 millis")
      const late = yield* Effect.result(verifyToken(secret, token))
      expect(Result.isFailure(late) && late.failure.message).toBe("the token has expired")
    })
  )

  it.live("a token verified under one secret is not accepted under another", () =>
    Effect.gen(function* () {
      const token = yield* signToken(secret, { role: "service" })
      expect(yield* verifyToken(secret, token)).toEqual({ role: "service" })
      const other = yield* Effect.result(verifyToken(Redacted.make("another-secret"), token))
      expect(Result.isFailure(other) && other.failure._tag).toBe("Unauthenticated")
    })
  )

  it.live("a tampered token is refused", () =>
    Effect.gen(function* () {
      const token = yield* signToken(secret, { role: "owner", sub: "user-2" })
      const [header, payload, signature] = token.split(".")
      const forged = `${header}.${Buffer.from(JSON.stringify({ role: "service" })).toString("base64url")}.${signature}`
      expect(payload).not.toBe(forged.split(".")[1])
      const result = yield* Effect.result(verifyToken(secret, forged))
      expect(Result.isFailure(result) && result.failure._tag).toBe("Unauthenticated")
    })
  )
})
