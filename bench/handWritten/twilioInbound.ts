// Hand-written baseline for POST /webhooks/twilio/inbound (bench/http.ts): Twilio's signature over APP_URL +
// path + query, the business read, Vapi's POST /call with the same body as VapiAssistant.startInboundCall, and
// Vapi's TwiML (an apology, as the service answers, when anything is missing or fails).
import { SQL } from "bun"
import { validateRequest } from "twilio/lib/webhooks/webhooks.js"
import { findBusiness } from "./businessSelect.ts"

const env = (name: string) => process.env[name] ?? ""
const sql = new SQL({ url: env("DATABASE_URL"), max: 10 })
const APOLOGY =
  '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Sorry, we cannot take your call right now. ' +
  "Please try again later. Goodbye.</Say><Hangup/></Response>"
const REJECT = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="rejected"/></Response>'
const twiml = (body: string) => new Response(body, { headers: { "content-type": "text/xml" } })

const answer = async (businessId: string | null, fields: Record<string, string>) => {
  const { CallSid, From, To } = fields
  const business = await findBusiness(sql, businessId)
  if (!business || !CallSid || !From || !To || business.e164 !== To) return APOLOGY
  if (business.status === "cancelled") return REJECT
  const response = await fetch(`${env("VAPI_API_URL")}/call`, {
    method: "POST",
    headers: { authorization: `Bearer ${env("VAPI_API_KEY")}`, "content-type": "application/json" },
    body: JSON.stringify({
      assistantId: business.vapi_assistant_id,
      phoneCallProviderBypassEnabled: true,
      customer: { number: From },
      phoneNumber: {
        twilioPhoneNumber: To,
        twilioAccountSid: env("TWILIO_ACCOUNT_SID"),
        twilioAuthToken: env("TWILIO_AUTH_TOKEN")
      },
      transport: { provider: "twilio", callSid: CallSid }
    }),
    signal: AbortSignal.timeout(8_000)
  })
  if (response.status !== 200 && response.status !== 201) return APOLOGY
  const created = (await response.json()) as { phoneCallProviderDetails?: { twiml?: string } }
  return created.phoneCallProviderDetails?.twiml || APOLOGY
}

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(env("PORT")),
  routes: {
    "/ready": new Response("ok"),
    "/webhooks/twilio/inbound": {
      POST: async (request) => {
        const url = new URL(request.url)
        const fields = Object.fromEntries(new URLSearchParams(await request.text()))
        const signature = request.headers.get("x-twilio-signature") ?? ""
        const signedUrl = `${env("APP_URL").replace(/\/+$/, "")}${url.pathname}${url.search}`
        if (!signature || !validateRequest(env("TWILIO_AUTH_TOKEN"), signature, signedUrl, fields))
          return new Response("bad signature", { status: 403 })
        return twiml(await answer(url.searchParams.get("business_id"), fields).catch(() => APOLOGY))
      }
    }
  }
})
