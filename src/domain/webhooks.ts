// Where Twilio and Vapi reach us for a business. Both URLs carry the business id (invariant I3).
import type { BusinessId } from "./ids.ts"

const TWILIO_INBOUND_PATH = "/webhooks/twilio/inbound"
const VAPI_WEBHOOK_PATH = "/webhooks/vapi"

const withBusiness = (appUrl: string, path: string, businessId: BusinessId): string => {
  const url = new URL(path, appUrl.endsWith("/") ? appUrl : `${appUrl}/`)
  // A path on APP_URL (a reverse-proxy prefix) is kept: the webhook path is appended to it.
  url.pathname = `${new URL(appUrl).pathname.replace(/\/+$/, "")}${path}`
  url.searchParams.set("business_id", businessId)
  return url.toString()
}

/** Twilio's voice URL for the business's number. */
export const twilioVoiceUrl = (appUrl: string, businessId: BusinessId): string =>
  withBusiness(appUrl, TWILIO_INBOUND_PATH, businessId)

/** The server URL set on the business's Vapi assistant. */
export const vapiServerUrl = (appUrl: string, businessId: BusinessId): string =>
  withBusiness(appUrl, VAPI_WEBHOOK_PATH, businessId)

/** The FriendlyName that marks a Twilio number as bought for a business; how a lost purchase is found again. */
export const friendlyNameFor = (businessId: BusinessId): string => `business:${businessId}`
