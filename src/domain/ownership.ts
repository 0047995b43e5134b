// Who may see a business: its owner, a service (the signup backend), or an operator (a person on our side who
// watches every business and retries what failed); who the caller is comes from a token verified at the HTTP edge.
import type { Business, User } from "./entities.ts"
import type { UserId } from "./ids.ts"

export const owns = (user: User | UserId, business: Business): boolean =>
  (typeof user === "string" ? user : user.id) === business.ownerId

/** Who is asking: an owner (a user), a service, or an operator. */
export type Caller =
  | { readonly role: "owner"; readonly userId: UserId }
  | { readonly role: "service" }
  | { readonly role: "operator" }
