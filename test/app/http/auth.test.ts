// Token verification, including the cache of tokens already verified: it must never outlive a token.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, Result } from "effect"
import { SignJWT } from "jose"
import { signToken, verifyToken } from "../../../src/app/http/auth.ts"

const secret = Redacted.make("auth-test-secret")
const USER = "00000000-0000-4000-8000-00000000a001"

describe("verifyToken", () => {
  it.live("accepts a token again from its cache, and refuses it once it has expired", () =>
    Effect.gen(function* () {
      const token = yield* signToken(secret, { role: "owner", sub: USER }, "2s")
      expect(yield* verifyToken(secret, token)).toEqual({ role: "owner", userId: USER })
      expect(yield* verifyToken(secret, token)).toEqual({ role: "owner", userId: USER })
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
      const token = yield* signToken(secret, { role: "owner", sub: "00000000-0000-4000-8000-00000000a002" })
      const [header, payload, signature] = token.split(".")
      const forged = `${header}.${Buffer.from(JSON.stringify({ role: "service" })).toString("base64url")}.${signature}`
      expect(payload).not.toBe(forged.split(".")[1])
      const result = yield* Effect.result(verifyToken(secret, forged))
      expect(Result.isFailure(result) && result.failure._tag).toBe("Unauthenticated")
    })
  )

  it.live("an operator token is an operator's; a token of an unknown role is refused, naming the roles", () =>
    Effect.gen(function* () {
      expect(yield* verifyToken(secret, yield* signToken(secret, { role: "operator" }, "12h"))).toEqual({
        role: "operator"
      })
      const unknown = yield* signToken(secret, { role: "admin" } as never)
      const result = yield* Effect.result(verifyToken(secret, unknown))
      expect(Result.isFailure(result) && result.failure.message).toBe(
        'the token has no valid role ("owner" with a user id as sub, "service" or "operator")'
      )
    })
  )

  it.live("an owner token whose sub is not a user id is refused, and names what is wrong", () =>
    Effect.gen(function* () {
      for (const sub of ["user-1", "", "00000000-0000-4000-8000-00000000a001\u0000", "x".repeat(10_000)]) {
        const token = yield* signToken(secret, { role: "owner", sub })
        const result = yield* Effect.result(verifyToken(secret, token))
        expect(Result.isFailure(result) && result.failure.message).toBe(
          "an owner token needs its user's id (a UUID) as sub"
        )
      }
    })
  )

  it.live(
    "a token without an expiry, or with one more than a year ahead, is refused: it would be good forever",
    () =>
      Effect.gen(function* () {
        const key = new TextEncoder().encode(Redacted.value(secret))
        for (const claims of [{ role: "service" }, { role: "operator" }, { role: "owner", sub: USER }]) {
          const forever = yield* Effect.promise(() =>
            new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt().sign(key)
          )
          const result = yield* Effect.result(verifyToken(secret, forever))
          expect(Result.isFailure(result) && result.failure.message).toBe(
            "the token has no expiry (exp); mint one with `bun run token`"
          )
        }
        const notANumber = yield* Effect.promise(() =>
          new SignJWT({ role: "service", exp: "never" as unknown as number })
            .setProtectedHeader({ alg: "HS256" })
            .sign(key)
        )
        const result = yield* Effect.result(verifyToken(secret, notANumber))
        expect(Result.isFailure(result) && result.failure.message).toBe(
          "the token is malformed or not signed with this service's key"
        )
        // As good as forever: refused, and not remembered as verified.
        const yearAndADay = Math.floor(Date.now() / 1000) + 367 * 24 * 60 * 60
        for (const exp of [yearAndADay, 9e15]) {
          const far = yield* Effect.promise(() =>
            new SignJWT({ role: "service", exp }).setProtectedHeader({ alg: "HS256" }).sign(key)
          )
          for (const attempt of [1, 2]) {
            const refused = yield* Effect.result(verifyToken(secret, far))
            expect(Result.isFailure(refused) && refused.failure.message, `${exp} #${attempt}`).toBe(
              "the token's expiry (exp) is more than a year ahead"
            )
          }
        }
        const year = yield* signToken(secret, { role: "service" }, "365d")
        expect(yield* verifyToken(secret, year)).toEqual({ role: "service" })
      })
  )
})
