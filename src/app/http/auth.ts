// Who is calling: `Authorization: Bearer <JWT HS256 signed with AUTH_SECRET>`. Owner tokens carry
// `sub` = user id and `role: "owner"`; service tokens `role: "service"`; a human operator's `role: "operator"`
// (`bun run token --operator`, valid 12 hours).
import { Effect, Redacted, Schema } from "effect"
import { jwtVerify, SignJWT } from "jose"
import { UserId } from "../../domain/ids.ts"
import type { Caller } from "../../domain/ownership.ts"

/** Missing, malformed, expired or badly signed: 401. */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>()("Unauthenticated", {
  message: Schema.String
}) {}

/** A valid token of the wrong role: 403. */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  message: Schema.String
}) {}

const Claims = Schema.Union([
  Schema.Struct({ role: Schema.Literal("owner"), sub: UserId }),
  Schema.Struct({ role: Schema.Literal("service") }),
  Schema.Struct({ role: Schema.Literal("operator") })
])

const keyOf = (secret: Redacted.Redacted<string>) => new TextEncoder().encode(Redacted.value(secret))

/** The longest a token may still have to live: `bun run token` mints them for 30 days at most. */
const MAX_TOKEN_LIFETIME_MILLIS = 366 * 24 * 60 * 60 * 1000

/** Tokens verified so far, up to this many (the oldest forgotten first), until each one's expiry. */
const VERIFIED_TOKENS = 10_000

interface Verifier {
  readonly key: Promise<CryptoKey>
  readonly verified: Map<string, { readonly caller: Caller; readonly expiresAtMillis: number }>
}

// One per secret: its HMAC key is imported once (not per request, which cost a quarter of a read's CPU),
// and a token already verified is not verified again while it lives: a signed token cannot change.
const verifiers = new WeakMap<Redacted.Redacted<string>, Verifier>()
const verifierOf = (secret: Redacted.Redacted<string>): Verifier => {
  const known = verifiers.get(secret)
  if (known) return known
  const verifier: Verifier = {
    key: crypto.subtle.importKey("raw", keyOf(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]),
    verified: new Map()
  }
  verifiers.set(secret, verifier)
  return verifier
}

const verifySignature = (verifier: Verifier, token: string) =>
  Effect.gen(function* () {
    const { payload } = yield* Effect.tryPromise({
      // Every token we sign expires (`signToken`): one without `exp` would be good forever, so it is refused.
      try: async () =>
        jwtVerify(token, await verifier.key, { algorithms: ["HS256"], requiredClaims: ["exp"] }),
      catch: (error) => {
        const { code, claim, reason } = error as { code?: string; claim?: string; reason?: string }
        return new Unauthenticated({
          message:
            code === "ERR_JWT_EXPIRED"
              ? "the token has expired"
              : code === "ERR_JWT_CLAIM_VALIDATION_FAILED" && claim === "exp" && reason === "missing"
                ? "the token has no expiry (exp); mint one with `bun run token`"
                : "the token is malformed or not signed with this service's key"
        })
      }
    })
    // An expiry centuries away (or Infinity, which JSON's 1e309 reads as) would be good forever too.
    const expiresAtMillis = (payload.exp as number) * 1000
    if (!(expiresAtMillis - Date.now() <= MAX_TOKEN_LIFETIME_MILLIS)) {
      return yield* new Unauthenticated({ message: "the token's expiry (exp) is more than a year ahead" })
    }
    const claims = yield* Schema.decodeUnknownEffect(Claims)(payload).pipe(
      Effect.mapError(
        () =>
          new Unauthenticated({
            message:
              payload.role === "owner"
                ? "an owner token needs its user's id (a UUID) as sub"
                : 'the token has no valid role ("owner" with a user id as sub, "service" or "operator")'
          })
      )
    )
    const caller: Caller =
      claims.role === "owner" ? { role: "owner", userId: claims.sub } : { role: claims.role }
    if (verifier.verified.size >= VERIFIED_TOKENS) {
      const oldest = verifier.verified.keys().next()
      if (!oldest.done) verifier.verified.delete(oldest.value)
    }
    verifier.verified.set(token, { caller, expiresAtMillis })
    return caller
  })

export const verifyToken = (secret: Redacted.Redacted<string>, token: string | null | undefined) =>
  Effect.suspend(() => {
    if (!token) return Effect.fail(new Unauthenticated({ message: "a bearer token is required" }))
    const verifier = verifierOf(secret)
    const known = verifier.verified.get(token)
    if (known && known.expiresAtMillis > Date.now()) return Effect.succeed(known.caller)
    if (known) verifier.verified.delete(token)
    return verifySignature(verifier, token)
  })

/** `Bearer xyz` -> `xyz` (case-insensitive scheme); anything else -> null. */
export const bearer = (header: string | null | undefined): string | null => {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? "")
  return match?.[1] ?? null
}

export const signToken = (
  secret: Redacted.Redacted<string>,
  claims:
    | { readonly role: "owner"; readonly sub: string }
    | { readonly role: "service" }
    | { readonly role: "operator" },
  expiresIn: string = "30d"
) =>
  Effect.promise(() =>
    new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime(expiresIn)
      .sign(keyOf(secret))
  )

export const requireService = (caller: Caller) =>
  caller.role === "service"
    ? Effect.void
    : Effect.fail(new Forbidden({ message: "this needs a service token" }))

/** A service or a human operator: who may see every business and retry an assignment. */
export const requireServiceOrOperator = (caller: Caller) =>
  caller.role === "service" || caller.role === "operator"
    ? Effect.void
    : Effect.fail(new Forbidden({ message: "this needs a service or operator token" }))

/** How long `bun run token --operator` tokens live: a working day, not the 30 days of a service's. */
export const OPERATOR_TOKEN_LIFETIME = "12h"
