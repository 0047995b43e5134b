// Rows as Postgres returns them, their columns in camelCase (named so by the statement, or by the main pool), decoded
// with Schema into entities.
// A row that breaks an entity's rules (ids, E.164, statuses) fails decoding: a defect, never data.
import { DateTime, Effect, Schema } from "effect"
import { Business, Call, NumberStatus, Trial, User } from "../../domain/entities.ts"
import { BusinessId } from "../../domain/ids.ts"

type Row = Record<string, unknown>

const Timestamp = Schema.Union([Schema.Date, Schema.String])

// Users and trials are selected in their entities' encoded shape already.
const toUser = Schema.decodeUnknownEffect(User)
export const toTrial = Schema.decodeUnknownEffect(Trial)

const decodeBusiness = Schema.decodeUnknownEffect(Business)

/**
 * A timestamp (or null) as the entity's ISO text: the driver reads one as a Date, a value built in SQL may be
 * text. One that is not a time (an invalid Date, unparseable text) is a defect; a value of another type is
 * passed on for the entity's decoding to refuse.
 */
const isoOf = (value: unknown): unknown =>
  value instanceof Date || typeof value === "string" ? DateTime.formatIso(DateTime.makeUnsafe(value)) : value

/** One Schema pass: the row's own fields, its timestamps as text and its number (when it has one) nested. */
export const toBusiness = (row: Row) =>
  Effect.suspend(() =>
    decodeBusiness({
      ...row,
      createdAt: isoOf(row.createdAt),
      updatedAt: isoOf(row.updatedAt),
      releaseAt: isoOf(row.releaseAt),
      phoneNumber:
        row.e164 === null || row.twilioSid === null
          ? null
          : {
              e164: row.e164,
              areaCode: row.areaCode,
              twilioSid: row.twilioSid,
              dateCreated: isoOf(row.dateCreated)
            }
    })
  )

/** A business row with its owner's `owner_email` and `owner_name`. */
export const toBusinessWithOwner = (row: Row) =>
  Effect.all({
    business: toBusiness(row),
    owner: toUser({ id: row.ownerId, email: row.ownerEmail, name: row.ownerName })
  })

const decodeCreated = Schema.decodeUnknownEffect(Schema.Struct({ created: Schema.Boolean }))
const decodeExisting = Schema.decodeUnknownEffect(Schema.Struct({ existingId: BusinessId }))

type ConversionRow =
  | { readonly _tag: "Created"; readonly business: Business }
  | { readonly _tag: "Existing"; readonly id: BusinessId }

/** A conversion's row: the business it created, or the id of the one the trial was converted to before. */
export const toConversion = Effect.fnUntraced(function* (
  row: Row
): Effect.fn.Return<ConversionRow, Schema.SchemaError> {
  const { created } = yield* decodeCreated(row)
  if (created) return { _tag: "Created", business: yield* toBusiness(row) }
  return { _tag: "Existing", id: (yield* decodeExisting(row)).existingId }
})

const StatusCountRow = Schema.Struct({ numberStatus: NumberStatus, count: Schema.Int })

/** `number_status, count(*)` rows, as counts of every status (none is zero). */
export const toStatusCounts = (rows: ReadonlyArray<Row>) =>
  Effect.map(Schema.decodeUnknownEffect(Schema.Array(StatusCountRow))(rows), (counted) => {
    const counts = { pending: 0, assigned: 0, failed: 0, released: 0 }
    for (const { numberStatus, count } of counted) counts[numberStatus] = count
    return counts
  })

const PurchaseRow = Schema.Struct({ since: Timestamp })

/** A purchase or release marker's time. */
export const toMarkerSince = (row: Row) =>
  Effect.map(Schema.decodeUnknownEffect(PurchaseRow)(row), (r) => DateTime.makeUnsafe(r.since))

const decodeCall = Schema.decodeUnknownEffect(Call)

/** One Schema pass, as a business row's: the call's own fields, its times as text. */
export const toCall = (row: Row) =>
  Effect.suspend(() =>
    decodeCall({ ...row, from: row.fromNumber, startedAt: isoOf(row.startedAt), endedAt: isoOf(row.endedAt) })
  )

/** A call's times as the `calls` table takes them (ISO strings). */
export const callTimes = Schema.encodeSync(
  Schema.Struct({
    startedAt: Schema.NullOr(Schema.DateTimeUtcFromString),
    endedAt: Schema.NullOr(Schema.DateTimeUtcFromString)
  })
)
