// Rows as Postgres returns them (camelCased by the client), decoded with Schema into entities.
// A row that breaks an entity's rules (ids, E.164, statuses) fails decoding: a defect, never data.
import { DateTime, Effect, Schema } from "effect"
import { Business, Call, Trial, User } from "../../domain/entities.ts"

const Timestamp = Schema.Union([Schema.Date, Schema.String])
const iso = (value: Date | string | null): string | null =>
  value === null ? null : DateTime.formatIso(DateTime.makeUnsafe(value))

// Users and trials are selected in their entities' encoded shape already.
export const toUser = Schema.decodeUnknownEffect(User)
export const toTrial = Schema.decodeUnknownEffect(Trial)

const BusinessRow = Schema.Struct({
  createdAt: Timestamp,
  e164: Schema.NullOr(Schema.String),
  areaCode: Schema.NullOr(Schema.String),
  twilioSid: Schema.NullOr(Schema.String)
})
const decodeBusiness = Schema.decodeUnknownEffect(Business)

export const toBusiness = (row: Record<string, unknown>) =>
  Effect.flatMap(Schema.decodeUnknownEffect(BusinessRow)(row), (r) =>
    decodeBusiness({
      ...row,
      createdAt: iso(r.createdAt),
      phoneNumber:
        r.e164 === null || r.twilioSid === null
          ? null
          : { e164: r.e164, areaCode: r.areaCode, twilioSid: r.twilioSid }
    })
  )

const CallRow = Schema.Struct({
  fromNumber: Schema.NullOr(Schema.String),
  startedAt: Schema.NullOr(Timestamp),
  endedAt: Schema.NullOr(Timestamp)
})
const decodeCall = Schema.decodeUnknownEffect(Call)

export const toCall = (row: Record<string, unknown>) =>
  Effect.flatMap(Schema.decodeUnknownEffect(CallRow)(row), (r) =>
    decodeCall({ ...row, from: r.fromNumber, startedAt: iso(r.startedAt), endedAt: iso(r.endedAt) })
  )
