// The writes of a hand-written status update (bench/handWritten/vapiStatus.ts, and its transaction alone in
// bench/routeCpu.ts), with Bun's built-in client: in one transaction the call upserted
// (PostgresRepository.upsertCall's statement) and the owner's event stored (PgBroadcaster.publish's statement:
// the stream's next offset, the event, the NOTIFY).
import type { SQL } from "bun"

export const recordCallStatus = (
  sql: SQL,
  businessId: string,
  callId: string,
  status: string,
  from: string | null
): Promise<void> =>
  sql.begin(async (tx) => {
    const [call] = await tx`
      INSERT INTO calls (vapi_call_id, callable_kind, callable_id, status, ended_reason, from_number, summary, started_at, ended_at)
      VALUES (${callId}, 'business', ${businessId}, ${status}, null, ${from}, null, null, null)
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
      businessId,
      callId: call.vapi_call_id,
      status: call.status,
      endedReason: call.ended_reason,
      from: call.from_number,
      at: new Date().toISOString()
    })
    await tx`
      WITH s AS (
        INSERT INTO event_streams (business_id, last_offset) VALUES (${businessId}, 1)
        ON CONFLICT (business_id) DO UPDATE SET last_offset = event_streams.last_offset + 1
        RETURNING last_offset, epoch
      ), e AS (
        INSERT INTO owner_events (business_id, "offset", epoch, type, payload, created_at)
        SELECT ${businessId}, last_offset, epoch, 'call.updated', ${payload}, clock_timestamp() FROM s
        RETURNING "offset"
      )
      SELECT pg_notify('numbers_owner_events', ${businessId} || ':' || "offset") FROM e`
  })
