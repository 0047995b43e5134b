// Use case: a call reaches a business's Twilio number. Answer TwiML that hands it to the business's Vapi
// assistant; whatever is missing or failing, the caller hears a short apology, never silence or an error.
import { Effect } from "effect"
import type { BusinessId } from "../../domain/ids.ts"
import { Assistant } from "../../ports/Assistant.ts"
import { Repository } from "../../ports/Repository.ts"

export interface IncomingCall {
  readonly businessId: BusinessId
  readonly callSid: string
  readonly from: string
  readonly to: string
}

export const APOLOGY_TWIML =
  '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Sorry, we cannot take your call right now. ' +
  "Please try again later. Goodbye.</Say><Hangup/></Response>"

/**
 * A cancelled business's parked number: Twilio does not answer the call (nor bill it), and the caller hears
 * that the number is not in service.
 */
export const REJECT_TWIML =
  '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="rejected"/></Response>'

/** Twilio gives up on a webhook after 15 s; Vapi gets well under that, leaving room to answer the apology. */
const VAPI_BUDGET = "8 seconds"

export const inboundCall = Effect.fn("InboundCall")(
  function* (call: IncomingCall) {
    const business = yield* (yield* Repository).findBusiness(call.businessId)
    if (!business) {
      yield* Effect.logWarning("inbound call for an unknown business")
      return APOLOGY_TWIML
    }
    // Only the business's own number may ring through to its assistant.
    if (business.phoneNumber?.e164 !== call.to) {
      yield* Effect.logWarning("inbound call refused: the called number is not this business's")
      return APOLOGY_TWIML
    }
    if (business.status === "cancelled") {
      yield* Effect.logInfo("inbound call rejected: the business is cancelled")
      return REJECT_TWIML
    }
    return yield* (yield* Assistant)
      .startInboundCall({
        assistantId: business.vapiAssistantId,
        callSid: call.callSid,
        from: call.from,
        to: call.to
      })
      .pipe(
        Effect.timeoutOrElse({
          duration: VAPI_BUDGET,
          orElse: () => Effect.logWarning("Vapi did not answer in time").pipe(Effect.as(APOLOGY_TWIML))
        })
      )
  },
  (effect, call) =>
    effect.pipe(
      Effect.catch((error) =>
        Effect.logWarning(`inbound call not connected: ${error._tag}`).pipe(Effect.as(APOLOGY_TWIML))
      ),
      Effect.annotateLogs({ businessId: call.businessId, callSid: call.callSid })
    )
)
