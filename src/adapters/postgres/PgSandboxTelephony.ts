// Sandbox mode's Telephony: a simulated Twilio account whose numbers live in Postgres (`sandbox_twilio_numbers`),
// so that a restarted sandbox, or several sandbox processes on one database, see what the account owns and
// never sell a number twice. It answers as Twilio does on the cases the Telephony contract suite covers. A state's
// local numbers for sale are the next ones of its area codes (by NANPA's table, src/domain/nearby.ts).
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import type { TwilioSid } from "../../domain/ids.ts"
import { areaCodesIn } from "../../domain/nearby.ts"
import { E164 } from "../../domain/phone.ts"
import {
  InvalidAreaCode,
  type LocalSearch,
  NoNumbersInAreaCode,
  NumberTaken,
  OwnedNumber,
  type PurchaseRequest,
  Telephony,
  TelephonyRejected,
  TelephonyUnavailable,
  tracePurchase
} from "../../ports/Telephony.ts"
import { type DbError, failureKind } from "./failures.ts"

export interface SandboxTelephonyOptions {
  /** Numbers for sale per area code; codes not listed have `defaultStock`. */
  readonly inventory?: Readonly<Record<string, number>>
  readonly defaultStock?: number
  /** Codes the simulated Twilio refuses as unknown (its error 21451). */
  readonly unknownAreaCodes?: ReadonlyArray<string>
}

/** Numbers are `+1 <area code> 555 <serial>`, serials 1000-9999: at most this many per area code. */
const SERIALS = 9000
const SIMULATED = /^\+1(\d{3})555(\d{4})$/

/** What an area code has sold: how many numbers, and its highest serial (999 before the first). */
const SoldRow = Schema.Struct({ areaCode: Schema.String, sold: Schema.Number, last: Schema.Number })

/** A row of `sandbox_twilio_numbers` as the client returns it (camelCased); its `created_at` is `dateCreated`. */
const NumberRow = Schema.Struct({
  ...OwnedNumber.fields,
  dateCreated: Schema.Union([Schema.DateTimeUtcFromDate, Schema.DateTimeUtcFromString])
})

const decodeOwned = (row: unknown) =>
  Effect.map(Schema.decodeUnknownEffect(NumberRow)(row), (fields) => new OwnedNumber(fields))

/** The database behind the simulation is down: to the caller, as Twilio being unreachable. */
const unreachable = (error: DbError) =>
  new TelephonyUnavailable({ message: `the sandbox Twilio's database: ${failureKind(error)}` })

export const layer = (options: SandboxTelephonyOptions = {}) =>
  Layer.effect(
    Telephony,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const unknown = new Set(options.unknownAreaCodes ?? [])
      const stockOf = (areaCode: string) =>
        Math.min(
          (options.inventory && Object.hasOwn(options.inventory, areaCode)
            ? options.inventory[areaCode]
            : undefined) ??
            options.defaultStock ??
            0,
          SERIALS
        )
      // The simulated Twilio is another system: what it does commits on its own, never inside a transaction
      // of ours that may roll back (the business lock's is open while a purchase is made).
      const onItsOwn = <A>(effect: Effect.Effect<A, DbError>) =>
        Effect.updateContext(effect, (context: Context.Context<never>) =>
          Context.omit(sql.transactionService)(context)
        ).pipe(Effect.mapError(unreachable))
      const fields = sql`sid, e164, friendly_name, voice_url, created_at AS date_created`
      const columns = sql`${fields} FROM sandbox_twilio_numbers`
      const firstOwned = (rows: ReadonlyArray<unknown>) =>
        rows[0] === undefined ? Effect.succeed(null) : decodeOwned(rows[0])

      const findOwned = Effect.fn("Telephony.findOwned")((friendlyName: string) =>
        onItsOwn(
          sql`SELECT ${columns} WHERE friendly_name = ${friendlyName} ORDER BY created_at LIMIT 1`.pipe(
            Effect.flatMap(firstOwned)
          )
        )
      )

      // A released number's row is gone: null, as Twilio's 404 (20404).
      const fetchNumber = Effect.fn("Telephony.fetch")((sid: TwilioSid) =>
        onItsOwn(sql`SELECT ${columns} WHERE sid = ${sid}`.pipe(Effect.flatMap(firstOwned)))
      )

      // A state's numbers for sale: for each of its codes in stock, the serials after its highest one sold.
      const searchLocal = Effect.fn("Telephony.searchLocal")(function* (search: LocalSearch) {
        const codes = areaCodesIn(search.region).filter((code) => !unknown.has(code) && stockOf(code) > 0)
        if (codes.length === 0) return []
        const rows = yield* onItsOwn(
          sql`SELECT area_code, count(*)::int AS sold, coalesce(max(right(e164, 4)::int), 999) AS last
            FROM sandbox_twilio_numbers WHERE area_code IN ${sql.in(codes)} GROUP BY area_code`.pipe(
            Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(SoldRow)))
          )
        )
        const listed: Array<E164> = []
        for (const code of codes) {
          const { sold, last } = rows.find((r) => r.areaCode === code) ?? { sold: 0, last: 999 }
          for (let next = 1; sold + next <= stockOf(code) && last + next <= 9999; next++) {
            if (listed.length >= search.limit) return listed
            listed.push(E164.make(`+1${code}555${last + next}`))
          }
        }
        return listed
      })

      /** Sells one number in the code, under its lock (one seller per code, across processes): its row, or none. */
      const sell = (areaCode: string, insert: Effect.Effect<ReadonlyArray<unknown>, DbError>) =>
        onItsOwn(
          sql.withTransaction(
            sql`SELECT pg_advisory_xact_lock(hashtext(${`sandbox-twilio:${areaCode}`}))`.pipe(
              Effect.andThen(insert)
            )
          )
        ).pipe(Effect.map((rows) => rows[0]))

      const purchase = Effect.fn("Telephony.purchase")(function* (request: PurchaseRequest) {
        const sid = `PN${crypto.randomUUID().replaceAll("-", "")}`
        if (request.phoneNumber !== undefined) {
          // For sale: one of ours (`+1 NPA 555 NNNN`) in a known code with stock left, and not sold yet.
          const [, areaCode = "", serial = "0"] = SIMULATED.exec(request.phoneNumber) ?? []
          const taken = new NumberTaken({ phoneNumber: request.phoneNumber })
          if (areaCode === "" || Number(serial) < 1000 || unknown.has(areaCode)) return yield* taken
          const row = yield* sell(
            areaCode,
            sql`
              INSERT INTO sandbox_twilio_numbers (sid, e164, area_code, friendly_name, voice_url)
              SELECT ${sid}, ${request.phoneNumber}, ${areaCode}, ${request.friendlyName}, ${request.voiceUrl}
              FROM sandbox_twilio_numbers WHERE area_code = ${areaCode}
              HAVING count(*) < ${stockOf(areaCode)} AND NOT coalesce(bool_or(e164 = ${request.phoneNumber}), false)
              RETURNING ${fields}`
          )
          return row === undefined ? yield* taken : yield* onItsOwn(decodeOwned(row))
        }
        const areaCode = request.areaCode
        if (unknown.has(areaCode)) return yield* new InvalidAreaCode({ areaCode })
        const row = yield* sell(
          areaCode,
          sql`
            INSERT INTO sandbox_twilio_numbers (sid, e164, area_code, friendly_name, voice_url)
            SELECT ${sid}, '+1' || ${areaCode} || '555' || coalesce(max(right(e164, 4)::int) + 1, 1000)::text,
              ${areaCode}, ${request.friendlyName}, ${request.voiceUrl}
            FROM sandbox_twilio_numbers WHERE area_code = ${areaCode}
            HAVING count(*) < ${stockOf(areaCode)} AND coalesce(max(right(e164, 4)::int), 999) < 9999
            RETURNING ${fields}`
        )
        if (row === undefined) return yield* new NoNumbersInAreaCode({ areaCode })
        return yield* onItsOwn(decodeOwned(row))
      }, tracePurchase)

      const updateVoiceUrl = Effect.fn("Telephony.updateVoiceUrl")(function* (
        sid: TwilioSid,
        voiceUrl: string
      ) {
        const updated = yield* onItsOwn(
          sql`UPDATE sandbox_twilio_numbers SET voice_url = ${voiceUrl} WHERE sid = ${sid} RETURNING sid`
        )
        if (updated.length === 0)
          return yield* new TelephonyRejected({ message: `no number ${sid} on this account (20404)` })
      })

      // Deleting no row (released already, or never sold) is a success, as Twilio's 404 (20404) counts as released.
      const release = Effect.fn("Telephony.release")((sid: TwilioSid) =>
        onItsOwn(sql`DELETE FROM sandbox_twilio_numbers WHERE sid = ${sid}`).pipe(Effect.asVoid)
      )

      return Telephony.of({ findOwned, fetch: fetchNumber, searchLocal, purchase, updateVoiceUrl, release })
    })
  )
