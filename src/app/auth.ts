// Who is calling: `Authorization: Bearer <JWT HS256 signed with AUTH_SECRET>`. Owner tokens carry
// `sub` = user id and `role: "owner"`; service tokens `role: "service"`.
import { Effect, Redacted, Schema } from "effect"
import { jwtVerify, SignJWT } from "jose"
import type { UserId } from "../domain/ids.ts"

export type Caller = { readonly role: "owner"; readonly userId: UserId } | { readonly role: "service" }

/** Missing, malformed, expired or badly signed: 401. */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>()("Unauthenticated", {
  message: Schema.String
}) {}

/** A valid token of the wrong role: 403. */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  message: Schema.String
}) {}

const Claims = Schema.Union([
  Schema.Struct({ role: Schema.Literal("owner"), sub: Schema.String.check(Schema.isNonEmpty()) }),
  Schema.Struct({ role: Schema.Literal("service") })
])

const keyOf = (secret: Redacted.Redacted<string>) => new TextEncoder().encode(Redacted.value(secret))

export const verifyToken = (secret: Redacted.Redacted<string>, token: string | null | undefined) =>
  Effect.gen(function* () {
    if (!token) return yield* new Unauthenticated({ message: "a bearer token is required" })
    const { payload } = yield* Effect.tryPromise({
      try: () => jwtVerify(token, keyOf(secret), { algorithms: ["HS256"] }),
      catch: (error) =>
        new Unauthenticated({
          message:
            (error as { code?: string }).code === "ERR_JWT_EXPIRED"
              ? "the token has expired"
              : "the token is malformed or not signed with this service's key"
        })
    })
    const claims = yield* Schema.decodeUnknownEffect(Claims)(payload).pipe(
      Effect.mapError(
        () => new Unauthenticated({ message: 'the token has no valid role ("owner" with sub, or "service")' })
      )
    )
    return (
      claims.role === "owner" ? { role: "owner", userId: claims.sub as UserId } : { role: "service" }
    ) satisfies Caller
  })

/** `Bearer xyz` -> `xyz` (case-insensitive scheme); anything else -> null. */
export const bearer = (header: string | null | undefined): string | null => {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? "")
  return match?.[1] ?? null
}

export const signToken = (
  secret: Redacted.Redacted<string>,
  claims: { readonly role: "owner"; readonly sub: string } | { readonly role: "service" },
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
