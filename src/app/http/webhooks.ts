// Provider webhooks. Twilio's are signed (X-Twilio-Signature over APP_URL + path + query and the form fields,
// never the Host header we were reached by); Vapi's carry our shared secret in X-Vapi-Secret. Past that check
// both always answer 200: a caller hears TwiML, Vapi gets something it can speak.
import { timingSafeEqual } from "node:crypto"
import { Effect, Redacted, Schema } from "effect"
// The signature check alone: the full SDK (and its load time) is only needed to call Twilio.
import { validateRequest } from "twilio/lib/webhooks/webhooks.js"
import { AssistantId, BusinessId } from "../../domain/ids.ts"
import { APOLOGY_TWIML, inboundCall } from "../usecases/InboundCall.ts"
import { handleServerMessage, ServerMessage } from "../usecases/VapiEvents.ts"
import { BadSecret, BadSignature } from "./respond.ts"
import { type Auth, form, json, route } from "./route.ts"

/** The URL Twilio signed: our public base URL, then the path and query as requested. */
const signedUrl = (appUrl: string, request: Request) => {
  const url = new URL(request.url)
  return `${appUrl.replace(/\/+$/, "")}${url.pathname}${url.search}`
}

const twilioSignature: Auth<void> = {
  scheme: {
    name: "twilioSignature",
    definition: { type: "apiKey", in: "header", name: "X-Twilio-Signature" }
  },
  refusals: ["BadSignature"],
  check: (request, settings, body) =>
    Effect.gen(function* () {
      const fields = Object.fromEntries(new URLSearchParams(yield* body))
      const signature = request.headers.get("x-twilio-signature") ?? ""
      const valid =
        signature !== "" &&
        validateRequest(
          Redacted.value(settings.twilioAuthToken),
          signature,
          signedUrl(settings.appUrl, request),
          fields
        )
      // Not from Twilio: refuse, and touch nothing.
      if (!valid) return yield* new BadSignature()
    })
}

const sameSecret = (given: string | null, expected: Redacted.Redacted<string>) => {
  if (given === null) return false
  const a = Buffer.from(given)
  const b = Buffer.from(Redacted.value(expected))
  return a.length === b.length && timingSafeEqual(a, b)
}

const vapiSecret: Auth<void> = {
  scheme: { name: "vapiSecret", definition: { type: "apiKey", in: "header", name: "X-Vapi-Secret" } },
  refusals: ["BadSecret"],
  check: (request, settings) =>
    sameSecret(request.headers.get("x-vapi-secret"), settings.vapiWebhookSecret)
      ? Effect.void
      : Effect.fail(new BadSecret())
}

/** `?business_id=`: a malformed one is taken as a missing one (the webhooks then answer as for an unknown business). */
const BusinessQuery = Schema.Struct({
  business_id: Schema.optionalKey(BusinessId.pipe(Schema.catchDecoding(() => Effect.succeedNone)))
})

/** The fields of Twilio's voice request we use; Twilio sends many more. */
const IncomingCallForm = Schema.Struct({
  CallSid: Schema.optionalKey(Schema.String),
  From: Schema.optionalKey(Schema.String),
  To: Schema.optionalKey(Schema.String)
})

const Twiml = Schema.String.annotate({ description: "TwiML" })

const CANNOT_TAKE_CALL = "Sorry, we cannot take your call right now."

/** Trouble on our side with a Vapi message: logged, and acknowledged (Vapi would speak a non-2xx to the caller). */
const acknowledge = (type: string) => (error: { readonly message: string }) =>
  Effect.logWarning(`Vapi ${type} not recorded: ${error.message}`).pipe(
    Effect.as(type === "assistant-request" ? { error: CANNOT_TAKE_CALL } : {})
  )

/** What Vapi gets back: the assistant to use, something to say, or an acknowledgement. */
const VapiReply = Schema.Union([
  Schema.Struct({ assistantId: AssistantId }),
  Schema.Struct({ error: Schema.String }),
  // `{}`: acknowledged.
  Schema.Record(Schema.String, Schema.Never)
]).annotate({ identifier: "VapiReply" })

export const webhookRoutes = [
  route({
    method: "POST",
    path: "/webhooks/twilio/inbound",
    summary:
      "Twilio's voice webhook (X-Twilio-Signature); answers TwiML, an apology when the call cannot go through",
    auth: twilioSignature,
    query: BusinessQuery,
    body: form(IncomingCallForm),
    answer: { schema: Twiml, status: 200, as: "text/xml" },
    run: ({ query: { business_id }, body: { CallSid, From, To } }) =>
      // (inboundCall answers an apology on any failure: with a valid signature Twilio always gets TwiML.)
      business_id && CallSid && From && To
        ? inboundCall({ businessId: business_id, callSid: CallSid, from: From, to: To })
        : Effect.succeed(APOLOGY_TWIML)
  }),
  route({
    method: "POST",
    path: "/webhooks/vapi",
    summary: "Vapi's server messages (X-Vapi-Secret); routed by business_id, else by the call's assistant",
    auth: vapiSecret,
    query: BusinessQuery,
    body: json(ServerMessage),
    answer: { schema: VapiReply, status: 200 },
    run: ({ query, body: message }) =>
      handleServerMessage(query.business_id ?? null, message).pipe(
        Effect.timeoutOrElse({
          // Vapi allows 7.5 s end to end for an assistant-request; answer something speakable before that.
          duration: "5 seconds",
          orElse: () => Effect.succeed({ error: CANNOT_TAKE_CALL })
        }),
        // Vapi may speak any non-2xx to the caller: trouble on our side is logged and acknowledged.
        Effect.catchTags({
          RepositoryUnavailable: acknowledge(message.message.type),
          BroadcastUnavailable: acknowledge(message.message.type)
        })
      )
  })
]
