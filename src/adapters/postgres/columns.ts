// The columns each entity is read with, named once for every statement that reads or returns one.
import type { SqlClient } from "effect/sql"

export const columns = (sql: SqlClient.SqlClient) => {
  // A trial row is `t` (trials) with its owner `u`'s email; a statement that makes `t` and `u` (CTEs) selects
  // the same fields.
  const trialFields = sql`
    t.id, t.owner_id, u.email AS owner_email, t.business_name, t.vapi_assistant_id,
    t.requested_area_code, t.status, t.business_id`
  // A business row is `b` (businesses) with its number in use's `p` columns (released ones are history); statements that make `b` and `p`
  // themselves (CTEs) select the same fields.
  const businessFields = sql`
    b.id, b.owner_id, b.name, b.vapi_assistant_id, b.requested_area_code, b.trial_id, b.status, b.release_at,
    b.number_status, b.assistant_status, b.failure_reason, b.created_at, b.updated_at,
    p.e164, p.area_code, p.twilio_sid, p.date_created`
  return {
    trialFields,
    trialColumns: sql`${trialFields} FROM trials t JOIN users u ON u.id = t.owner_id`,
    businessFields,
    businessColumns: sql`${businessFields} FROM businesses b LEFT JOIN phone_numbers p ON p.business_id = b.id AND p.released_at IS NULL`,
    callFields: sql`
      vapi_call_id, callable_kind, callable_id, status, ended_reason, from_number, summary, started_at, ended_at`
  }
}
