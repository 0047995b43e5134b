// `bun run token --owner <userId>` or `bun run token --service`: prints a token signed with AUTH_SECRET.
import { Effect, Redacted } from "effect"
import { signToken } from "../http/auth.ts"

const [flag, userId] = process.argv.slice(2)
const secret = process.env.AUTH_SECRET
if (!secret || (flag !== "--service" && !(flag === "--owner" && userId))) {
  console.error(
    secret
      ? "usage: bun run token --owner <userId> | --service"
      : "AUTH_SECRET is required (the key the service verifies tokens with)"
  )
  process.exit(2)
}
const claims =
  flag === "--service" ? ({ role: "service" } as const) : ({ role: "owner", sub: userId ?? "" } as const)
console.log(await Effect.runPromise(signToken(Redacted.make(secret), claims)))
