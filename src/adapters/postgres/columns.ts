// The columns each entity is read with, named once for every statement that reads or returns one.
import type { SqlClient } from "effect/sql"

export const columns = (sql: SqlClient.SqlClient) => {
  // A trial row is `t` (trials) with its owner `u`'s email; a statement that makes `t` and `u` (CTEs) selects
  // the same fields.
  const trialFields = sql`
    t.id, t.owner_id, u.email AS owner_email, t.business_name, t.vapi_assistant_id,
    t.requested_area_code, t.status, t.business_id`
  // A business row is `b` (businesses) with its number in use's `p` columns (released ones are history); statements that make `b` and `p`
  // themselves (CTEs) select the same fields. Named as the row is read (camelCase): the read pool (ReadSql)
  // does not rename a result's columns, and the main pool's renaming leaves these names as they are.
  const businessFields = sql`
    b.id, b.owner_id AS "ownerId", b.name, b.vapi_assistant_id AS "vapiAssistantId",
    b.requested_area_code AS "requestedAreaCode", b.trial_id AS "trialId", b.status, b.release_at AS "releaseAt",
    b.number_status AS "numberStatus", b.assistant_status AS "assistantStatus",
    b.failure_reason AS "failureReason", b.created_at AS "createdAt", b.updated_at AS "updatedAt",
    p.e164, p.area_code AS "areaCode", p.twilio_sid AS "twilioSid", p.date_created AS "dateCreated"`
  return {
    trialFields,
    trialColumns: sql`${trialFields} FROM trials t JOIN users u ON u.id = t.owner_id`,
    businessFields,
    businessColumns: sql`${businessFields} FROM businesses b LEFT JOIN phone_numbers p ON p.business_id = b.id AND p.released_at IS NULL`,
    callFields: sql`
      vapi_call_id, callable_kind, callable_id, status, ended_reason, from_number, summary, started_at, ended_at`
  }
}
