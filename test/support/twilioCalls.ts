// Inbound calls as Twilio sends them to a running service: a form-encoded POST to the business's inbound
// webhook, signed over APP_URL + path + query (never the address it is sent to) with the account's auth token.
import twilio from "twilio"
import { PUBLIC_APP_URL } from "./fakeTwilio.ts"

/** Posts a signed inbound call for `businessId` to the service at `base`; Twilio's fields as given. */
export const signedInboundCall = (
  base: string,
  authToken: string,
  businessId: string,
  fields: Readonly<Record<string, string>>
): Promise<Response> => {
  const path = `/webhooks/twilio/inbound?business_id=${businessId}`
  const signature = twilio.getExpectedTwilioSignature(authToken, `${PUBLIC_APP_URL}${path}`, fields)
  return fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature },
    body: new URLSearchParams(fields)
  })
}
