// Hand-written baseline for POST /webhooks/vapi status-update (bench/http.ts): X-Vapi-Secret compared in
// constant time, the business read, then in one transaction the call upserted and the owner's event stored
// (PgBroadcaster.publish's statement: event_streams upsert, owner_events insert, pg_notify); `{}`.
import { timingSafeEqual } from "node:crypto"
import { SQL } from "bun"
import { findBusiness } from "./businessSelect.ts"

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
        await sql.begin(async (tx) => {
          const [call] = await tx`
            INSERT INTO calls (vapi_call_id, callable_kind, callable_id, status, ended_reason, from_number, summary, started_at, ended_at)
            VALUES (${callId}, 'business', ${business.id}, ${status}, null, ${from}, null, null, null)
            ON CONFLICT (vapi_call_id) DO UPDATE SET
              status = EXCLUDED.status,
              ended_reason = COALESCE(EXCLUDED.ended_reason, calls.ended_reason),
              from_number = COALESCE(EXCLUDED.from_number, calls.from_number),
              summary = COALESCE(EXCLUDED.summary, calls.summary),
              started_at = COALESCE(calls.started_at, EXCLUDED.started_at),
              ended_at = COALESCE(EXCLUDED.ended_at, calls.ended_at),
              updated_at = now()
            RETURNING vapi_call_id, status, ended_reason, from_number`
          const payload = JSON.stringify({
            _tag: "call.updated",
            businessId: business.id,
            callId: call.vapi_call_id,
            status: call.status,
            endedReason: call.ended_reason,
            from: call.from_number,
            at: new Date().toISOString()
          })
          await tx`
            WITH s AS (
              INSERT INTO event_streams (business_id, last_offset) VALUES (${business.id}, 1)
              ON CONFLICT (business_id) DO UPDATE SET last_offset = event_streams.last_offset + 1
              RETURNING last_offset, epoch
            ), e AS (
              INSERT INTO owner_events (business_id, "offset", epoch, type, payload, created_at)
              SELECT ${business.id}, last_offset, epoch, 'call.updated', ${payload}, clock_timestamp() FROM s
              RETURNING "offset"
            )
            SELECT pg_notify('numbers_owner_events', ${business.id} || ':' || "offset") FROM e`
        })
        return Response.json({})
      }
    }
  }
})
