// Hand-written baseline for POST /webhooks/vapi status-update (bench/http.ts): X-Vapi-Secret compared in
// constant time, the business read, then the call and the owner's event stored in one transaction
// (callWrites.ts); `{}`.
import { timingSafeEqual } from "node:crypto"
import { SQL } from "bun"
import { findBusiness } from "./businessSelect.ts"
import { recordCallStatus } from "./callWrites.ts"

const sql = new SQL({ url: process.env.DATABASE_URL, max: 10 })
const secret = Buffer.from(process.env.VAPI_WEBHOOK_SECRET ?? "")
const STATUSES = ["scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"]

interface Message {
  readonly message: {
    readonly type: string
    readonly status?: string
    readonly customer?: { readonly number?: string | null } | null
    readonly call?: { readonly id?: string; readonly customer?: { readonly number?: string | null } | null }
  }
}

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  routes: {
    "/ready": new Response("ok"),
    "/webhooks/vapi": {
      POST: async (request) => {
        const given = Buffer.from(request.headers.get("x-vapi-secret") ?? "")
        if (given.length !== secret.length || !timingSafeEqual(given, secret))
          return Response.json({ error: "BadSecret" }, { status: 401 })
        const { message } = (await request.json()) as Message
        const business = await findBusiness(sql, new URL(request.url).searchParams.get("business_id"))
        const callId = message.call?.id
        const status = message.status
        if (message.type !== "status-update" || !business || !callId || !status || !STATUSES.includes(status))
          return Response.json({})
        const from = message.customer?.number ?? message.call?.customer?.number ?? null
        await recordCallStatus(sql, business.id, callId, status, from)
        return Response.json({})
      }
    }
  }
})
