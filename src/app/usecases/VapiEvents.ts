// Use case: Vapi's server messages. Each is routed to its callable (the business of `business_id`, else the
// business whose assistant it is, else the trial with that assistant), calls are recorded, the owner's
// dashboard told, and an `assistant-request` answered with the callable's assistant.
import { DateTime, Effect, Option, Schedule, Schema } from "effect"
import { Call, CallStatus } from "../../domain/entities.ts"
import { CallUpdated } from "../../domain/events.ts"
import { AssistantId, type BusinessId, decodeIdOrNull, VapiCallId } from "../../domain/ids.ts"
import { Broadcaster } from "../../ports/Broadcaster.ts"
import { Repository } from "../../ports/Repository.ts"

const Customer = Schema.Struct({ number: Schema.optional(Schema.NullOr(Schema.String)) })

/** What we read of a server message; Vapi sends much more, which is ignored. */
export const ServerMessage = Schema.Struct({
  message: Schema.Struct({
    type: Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(100)),
    status: Schema.optional(Schema.String),
    endedReason: Schema.optional(Schema.NullOr(Schema.String)),
    startedAt: Schema.optional(Schema.NullOr(Schema.String)),
    endedAt: Schema.optional(Schema.NullOr(Schema.String)),
    summary: Schema.optional(Schema.NullOr(Schema.String)),
    analysis: Schema.optional(
      Schema.NullOr(Schema.Struct({ summary: Schema.optional(Schema.NullOr(Schema.String)) }))
    ),
    customer: Schema.optional(Schema.NullOr(Customer)),
    call: Schema.optional(
      Schema.NullOr(
        Schema.Struct({
          id: Schema.optional(Schema.String),
          assistantId: Schema.optional(Schema.NullOr(Schema.String)),
          customer: Schema.optional(Schema.NullOr(Customer))
        })
      )
    )
  })
})
export type ServerMessage = typeof ServerMessage.Type

export type Callable =
  | {
      readonly kind: "business"
      readonly id: string
      readonly assistantId: AssistantId
      readonly businessId: BusinessId
    }
  | { readonly kind: "trial"; readonly id: string; readonly assistantId: AssistantId }

/** Business first (by `business_id`, then by assistant), then trial: a business keeps its trial's assistant. */
export const findCallable = Effect.fn("VapiEvents.findCallable")(function* (
  businessId: BusinessId | null,
  assistantId: AssistantId | null
) {
  const repo = yield* Repository
  const asBusiness = (b: { readonly id: BusinessId; readonly vapiAssistantId: AssistantId }): Callable => ({
    kind: "business",
    id: b.id,
    assistantId: b.vapiAssistantId,
    businessId: b.id
  })
  if (businessId) {
    const business = yield* repo.findBusiness(businessId)
    if (business) return asBusiness(business)
  }
  if (!assistantId) return null
  const business = yield* repo.findBusinessByAssistant(assistantId)
  if (business) return asBusiness(business)
  const trial = yield* repo.findTrialByAssistant(assistantId)
  return trial
    ? ({ kind: "trial", id: trial.id, assistantId: trial.vapiAssistantId } satisfies Callable)
    : null
})

export const UNKNOWN_CALLER_REPLY =
  "Sorry, this number is not taking calls right now. Please try again later."

/**
 * An RFC 3339 timestamp, as Vapi sends them (its seconds may be left out); anything else (a bare "0", a year past
 * 9999) is not a time.
 */
const RFC_3339 = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/

/** A call's time, or null when it is not one: a call is recorded without it rather than lost for it. */
const parseTime = (value: string | null | undefined) => {
  const match = value ? RFC_3339.exec(value) : null
  if (!match) return null
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  // A day that is not in its month (2026-02-30) would roll over into the next one.
  const real = year >= 1 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
  return real ? Option.getOrNull(DateTime.make(match[0])) : null
}

/** Vapi's free text as it can be stored: Postgres's text cannot hold NUL, so it is dropped, not the call. */
const storable = (text: string | null | undefined) => (text == null ? null : text.replaceAll("\u0000", ""))
const isCallStatus = Schema.is(CallStatus)

/** Records the call and tells the business's owner; answers what Vapi expects back (`{}` when nothing). */
export const handleServerMessage = Effect.fn("VapiEvents")(function* (
  businessId: BusinessId | null,
  body: ServerMessage
) {
  const { message } = body
  // Vapi's ids are decoded here: a malformed one is an unknown one (acknowledged, nothing recorded).
  const callable = yield* findCallable(businessId, decodeIdOrNull(AssistantId)(message.call?.assistantId))
  if (message.type === "assistant-request") {
    return callable ? { assistantId: callable.assistantId } : { error: UNKNOWN_CALLER_REPLY }
  }
  if (message.type !== "status-update" && message.type !== "end-of-call-report") return {}
  const callId = decodeIdOrNull(VapiCallId)(message.call?.id)
  if (!callable || !callId) {
    yield* Effect.logWarning(
      callable
        ? `Vapi ${message.type} without a usable call id: acknowledged`
        : `Vapi ${message.type} for no known business or trial: acknowledged`
    )
    return {}
  }
  const status = message.type === "end-of-call-report" ? "ended" : message.status
  // Statuses outside the ones we show (e.g. "not-found") are acknowledged, not recorded.
  if (!isCallStatus(status)) return {}
  const from = storable(message.customer?.number ?? message.call?.customer?.number)
  const repo = yield* Repository
  const broadcaster = yield* Broadcaster
  // The call and the owner's event commit together: an event is stored with the change it announces.
  const record = (call: Call) =>
    repo.upsertCall(call).pipe(
      Effect.tap((stored) =>
        callable.kind !== "business"
          ? Effect.void
          : Effect.flatMap(DateTime.now, (now) =>
              broadcaster.publish(
                callable.businessId,
                new CallUpdated({
                  businessId: callable.businessId,
                  callId: stored.vapiCallId,
                  status: stored.status,
                  endedReason: stored.endedReason,
                  from: stored.from,
                  at: DateTime.formatIso(now)
                })
              )
            )
      )
    )
  yield* repo
    .transaction(
      record(
        new Call({
          vapiCallId: callId,
          callableKind: callable.kind,
          callableId: callable.id,
          status,
          endedReason: storable(message.endedReason),
          from,
          summary: storable(message.analysis?.summary ?? message.summary),
          startedAt: parseTime(message.startedAt),
          endedAt: parseTime(message.endedAt)
        })
      )
    )
    .pipe(
      // A transaction cannot retry its own statements: a brief database hiccup retries the whole (an upsert).
      Effect.retry({
        schedule: Schedule.exponential("50 millis").pipe(Schedule.jittered),
        times: 2,
        while: (error) => error._tag === "RepositoryUnavailable" || error._tag === "BroadcastUnavailable"
      })
    )
  return {}
})
