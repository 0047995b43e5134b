// Who may see a business: its owner only (services are checked at the HTTP edge).
import type { Business, User } from "./entities.ts"
import type { UserId } from "./ids.ts"

export const owns = (user: User | UserId, business: Business): boolean =>
  (typeof user === "string" ? user : user.id) === business.ownerId
