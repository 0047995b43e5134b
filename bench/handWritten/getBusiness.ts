// Hand-written baseline for GET /api/businesses/:id (bench/http.ts): the bearer token verified once (HS256)
// and then remembered until its expiry, as src/app/http/auth.ts does; the one SELECT; `{ business }`.
import { SQL } from "bun"
import { jwtVerify } from "jose"
import { businessJson, findBusiness } from "./businessSelect.ts"

const sql = new SQL({ url: process.env.DATABASE_URL, max: 10 })
const key = new TextEncoder().encode(process.env.AUTH_SECRET)
const verified = new Map<
  string,
  { readonly role: unknown; readonly sub: unknown; readonly expires: number }
>()

const callerOf = async (header: string | null) => {
  const token = /^Bearer\s+(\S+)$/i.exec(header ?? "")?.[1]
  if (!token) return null
  const known = verified.get(token)
  if (known && known.expires > Date.now()) return known
  const { payload } = await jwtVerify(token, key, { algorithms: ["HS256"] }).catch(() => ({ payload: null }))
  if (!payload) return null
  if (verified.size >= 10_000) verified.delete(verified.keys().next().value as string)
  const caller = { role: payload.role, sub: payload.sub, expires: (payload.exp ?? Infinity) * 1000 }
  verified.set(token, caller)
  return caller
}

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  routes: {
    "/ready": new Response("ok"),
    "/api/businesses/:id": async (request) => {
      const caller = await callerOf(request.headers.get("authorization"))
      if (!caller || !["owner", "service", "operator"].includes(String(caller.role)))
        return Response.json({ error: "Unauthenticated" }, { status: 401 })
      const business = await findBusiness(sql, request.params.id)
      if (!business || (caller.role === "owner" && business.owner_id !== caller.sub))
        return Response.json({ error: "BusinessNotFound" }, { status: 404 })
      return Response.json({ business: businessJson(business) })
    }
  }
})
