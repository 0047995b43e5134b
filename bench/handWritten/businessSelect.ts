// The business read every hand-written baseline makes: the service's one SELECT (src/adapters/postgres/columns.ts,
// PostgresRepository.findBusiness), with Bun's built-in client, and the row as the API's `business` JSON.
import type { SQL } from "bun"

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface BusinessRow {
  readonly id: string
  readonly owner_id: string
  readonly name: string
  readonly vapi_assistant_id: string
  readonly requested_area_code: string | null
  readonly trial_id: string
  readonly status: string
  readonly release_at: Date | null
  readonly number_status: string
  readonly assistant_status: string
  readonly failure_reason: string | null
  readonly created_at: Date
  readonly updated_at: Date
  readonly e164: string | null
  readonly area_code: string | null
  readonly twilio_sid: string | null
  readonly date_created: Date | null
}

/** The business `id` (null when it is not a UUID or not there), with its number in use. */
export const findBusiness = async (sql: SQL, id: string | null | undefined): Promise<BusinessRow | null> => {
  if (!id || !UUID.test(id)) return null
  const [row] = await sql`
    SELECT b.id, b.owner_id, b.name, b.vapi_assistant_id, b.requested_area_code, b.trial_id, b.status,
      b.release_at, b.number_status, b.assistant_status, b.failure_reason, b.created_at, b.updated_at,
      p.e164, p.area_code, p.twilio_sid, p.date_created
    FROM businesses b LEFT JOIN phone_numbers p ON p.business_id = b.id AND p.released_at IS NULL
    WHERE b.id = ${id}`
  return (row as BusinessRow | undefined) ?? null
}

export const businessJson = (b: BusinessRow) => ({
  id: b.id,
  ownerId: b.owner_id,
  name: b.name,
  vapiAssistantId: b.vapi_assistant_id,
  requestedAreaCode: b.requested_area_code,
  trialId: b.trial_id,
  status: b.status,
  releaseAt: b.release_at,
  numberStatus: b.number_status,
  phoneNumber:
    b.e164 === null
      ? null
      : { e164: b.e164, areaCode: b.area_code, twilioSid: b.twilio_sid, dateCreated: b.date_created },
  assistantStatus: b.assistant_status,
  failureReason: b.failure_reason,
  createdAt: b.created_at,
  updatedAt: b.updated_at
})
