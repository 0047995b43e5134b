// Provider webhooks. Twilio's are signed (X-Twilio-Signature over APP_URL + path + query and the form fields,
// never the Host header we were reached by); Vapi's carry our shared secret in X-Vapi-Secret.
import { timingSafeEqual } from "node:crypto"
import { Effect, Redacted } from "effect"
import { Elysia } from "elysia"
// The signature check alone: the full SDK (and its load time) is only needed to call Twilio.
import { validateRequest } from "twilio/lib/webhooks/webhooks.js"
import { BusinessId, decodeIdOrNull } from "../../domain/ids.ts"
import { APOLOGY_TWIML, inboundCall } from "../InboundCall.ts"
import { handleServerMessage, ServerMessage } from "../VapiEvents.ts"
import { decodeBody, errorBody, readJson, readText, respond } from "./respond.ts"
import type { Run } from "./run.ts"
import type { HttpServices, HttpSettings } from "./services.ts"

const twiml = (body: string) => new Response(body, { headers: { "content-type": "text/xml; charset=utf-8" } })

const sameSecret = (given: string | null, expected: Redacted.Redacted<string>) => {
  if (given === null) return false
  const a = Buffer.from(given)
  const b = Buffer.from(Redacted.value(expected))
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The URL Twilio signed: our public base URL, then the path and query as requested. */
export const signedUrl = (appUrl: string, request: Request) => {
  const url = new URL(request.url)
  return `${appUrl.replace(/\/+$/, "")}${url.pathname}${url.search}`
}

const businessIdIn = (request: Request): BusinessId | null =>
  decodeIdOrNull(BusinessId)(new URL(request.url).searchParams.get("business_id"))

export const webhookRoutes = (run: Run<HttpServices>, settings: HttpSettings) =>
  new Elysia({ name: "webhooks", prefix: "/webhooks" })
    .post(
      "/twilio/inbound",
      ({ request }) =>
        respond(
          run,
          request,
          Effect.gen(function* () {
            const form = new URLSearchParams(yield* readText(request))
            const params = Object.fromEntries(form)
            const signature = request.headers.get("x-twilio-signature") ?? ""
            const valid =
              signature !== "" &&
              validateRequest(
                Redacted.value(settings.twilioAuthToken),
                signature,
                signedUrl(settings.appUrl, request),
                params
              )
            // Not from Twilio: refuse, and touch nothing.
            if (!valid)
              return errorBody(403, "bad_signature", "X-Twilio-Signature is missing or does not match")
            // A malformed business_id is an unknown business: the caller hears the apology.
            const businessId = businessIdIn(request)
            if (!businessId || !params.CallSid || !params.From || !params.To) return twiml(APOLOGY_TWIML)
            return twiml(
              yield* inboundCall({
                businessId,
                callSid: params.CallSid,
                from: params.From,
                to: params.To
              })
            )
            // (inboundCall answers an apology on any failure: with a valid signature Twilio always gets TwiML.)
          })
        ),
      { parse: "none" }
    )
    .post(
      "/vapi",
      ({ request }) =>
        respond(
          run,
          request,
          Effect.gen(function* () {
            if (!sameSecret(request.headers.get("x-vapi-secret"), settings.vapiWebhookSecret)) {
              return errorBody(401, "bad_secret", "X-Vapi-Secret is missing or wrong")
            }
            const message = yield* Effect.flatMap(readJson(request), decodeBody(ServerMessage))
            // A malformed business_id routes as a missing one would: by the assistant id.
            const reply = yield* handleServerMessage(businessIdIn(request), message).pipe(
              Effect.timeoutOrElse({
                // Vapi allows 7.5 s end to end for an assistant-request; answer something speakable before that.
                duration: "5 seconds",
                orElse: () => Effect.succeed({ error: "Sorry, we cannot take your call right now." })
              }),
              // Vapi may speak any non-2xx to the caller: trouble on our side is logged and acknowledged.
              Effect.catchTag("RepositoryUnavailable", (error) =>
                Effect.logWarning(`Vapi ${message.message.type} not recorded: ${error.message}`).pipe(
                  Effect.as(
                    message.message.type === "assistant-request"
                      ? { error: "Sorry, we cannot take your call right now." }
                      : {}
                  )
                )
              )
            )
            return Response.json(reply)
          })
        ),
      { parse: "none" }
    )
