// `bun run token --owner <userId>`, `--service` or `--operator`: prints a token signed with AUTH_SECRET (an
// operator's, for a person watching every business on the dashboard, lives 12 hours).
import { Effect, Redacted } from "effect"
import { OPERATOR_TOKEN_LIFETIME, signToken } from "../http/auth.ts"

const [flag, userId] = process.argv.slice(2)
const secret = process.env.AUTH_SECRET
if (!secret || (flag !== "--service" && flag !== "--operator" && !(flag === "--owner" && userId))) {
  console.error(
    secret
      ? "usage: bun run token --owner <userId> | --service | --operator"
      : "AUTH_SECRET is required (the key the service verifies tokens with)"
  )
  process.exit(2)
}
const key = Redacted.make(secret)
const token =
  flag === "--service"
    ? signToken(key, { role: "service" })
    : flag === "--operator"
      ? signToken(key, { role: "operator" }, OPERATOR_TOKEN_LIFETIME)
      : signToken(key, { role: "owner", sub: userId ?? "" })
console.log(await Effect.runPromise(token))
