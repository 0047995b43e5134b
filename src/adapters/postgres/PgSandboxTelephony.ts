// Sandbox mode's Telephony: a simulated Twilio account whose numbers live in Postgres (`sandbox_twilio_numbers`),
// so that a restarted sandbox, or several sandbox processes on one database, see what the account owns and
// never sell a number twice. It answers as Twilio does on the cases the Telephony contract suite covers.
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import type { TwilioSid } from "../../domain/ids.ts"
import {
  InvalidAreaCode,
  NoNumbersInAreaCode,
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

      const purchase = Effect.fn("Telephony.purchase")(function* (request: PurchaseRequest) {
        if (unknown.has(request.areaCode)) return yield* new InvalidAreaCode({ areaCode: request.areaCode })
        const stock = Math.min(options.inventory?.[request.areaCode] ?? options.defaultStock ?? 0, SERIALS)
        const sid = `PN${crypto.randomUUID().replaceAll("-", "")}`
        // One seller per area code at a time (across processes): the next serial is taken under its lock.
        const [row] = yield* onItsOwn(
          sql.withTransaction(
            Effect.gen(function* () {
              yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`sandbox-twilio:${request.areaCode}`}))`
              return yield* sql`
                INSERT INTO sandbox_twilio_numbers (sid, e164, area_code, friendly_name, voice_url)
                SELECT ${sid}, '+1' || ${request.areaCode} || '555' || coalesce(max(right(e164, 4)::int) + 1, 1000)::text,
                  ${request.areaCode}, ${request.friendlyName}, ${request.voiceUrl}
                FROM sandbox_twilio_numbers WHERE area_code = ${request.areaCode}
                HAVING count(*) < ${stock} AND coalesce(max(right(e164, 4)::int), 999) < 9999
                RETURNING ${fields}`
            })
          )
        )
        if (row === undefined) return yield* new NoNumbersInAreaCode({ areaCode: request.areaCode })
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

      return Telephony.of({ findOwned, fetch: fetchNumber, purchase, updateVoiceUrl, release })
    })
  )
