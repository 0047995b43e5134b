// Shared by the benchmarks that load the service as its own process (bench/http.ts, bench/tracing.ts): the
// fake Twilio and Vapi on loopback, the service (ROLE=all) wired to them, and one converted business with its
// number, created through the service's API as an owner's would be.
import { SQL } from "bun"
import { Effect, Redacted } from "effect"
import twilio from "twilio"
import { signToken } from "../src/app/http/auth.ts"
import { type FakeTwilio, PUBLIC_APP_URL, startFakeTwilio } from "../test/support/fakeTwilio.ts"
import { startFakeVapi } from "../test/support/fakeVapi.ts"
import { freePort, type ServiceProcess, spawnService } from "../test/support/processes.ts"
import type { Target } from "./load.ts"

export const ASSISTANT = "5f0a2c1e-7b3d-4c1a-9e2f-0000000be4c3"
export const AUTH_SECRET = "bench-http-auth-secret"
export const VAPI_SECRET = "bench-http-vapi-secret"

export interface Providers {
  readonly twilio: FakeTwilio
  readonly env: Readonly<Record<string, string>>
  readonly stop: () => void
}

/** The fake Twilio (200 numbers in stock an area code) and Vapi (ASSISTANT), served by this process. */
export const startProviders = (): Providers => {
  const twilio = startFakeTwilio({ defaultStock: 200 })
  const vapi = startFakeVapi({ assistants: [ASSISTANT] })
  return {
    twilio,
    env: { ...twilio.env, ...vapi.env },
    stop: () => {
      twilio.stop()
      vapi.stop()
    }
  }
}

/** The service (`ROLE=all`) as its own process on `databaseUrl` and `providers`, with `env` on top. */
export const startService = (
  databaseUrl: string,
  providers: Providers,
  env: Readonly<Record<string, string>> = {}
): { readonly base: string; readonly process: ServiceProcess } => {
  const port = freePort()
  return {
    base: `http://127.0.0.1:${port}`,
    process: spawnService({
      ROLE: "all",
      PORT: String(port),
      // Real-looking Twilio credentials need a public https APP_URL; requests still go to `base`.
      APP_URL: PUBLIC_APP_URL,
      DATABASE_URL: databaseUrl,
      ...providers.env,
      VAPI_WEBHOOK_SECRET: VAPI_SECRET,
      AUTH_SECRET,
      ...env
    })
  }
}

/** A token signed with AUTH_SECRET. */
export const sign = (claims: Parameters<typeof signToken>[1]) =>
  Effect.runPromise(signToken(Redacted.make(AUTH_SECRET), claims))

/**
 * One trial converted through the API of the service at `base`, waited on until its number is assigned (30 s
 * at most): the business, its owner's token and its number. `n` tells the owners of several apart.
 */
export const convertedBusiness = async (base: string, service: ServiceProcess, n = 0) => {
  const serviceToken = await sign({ role: "service" })
  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body)
    })
    return (await response.json()) as Record<string, Record<string, unknown>>
  }
  const { trial } = await api("POST", "/api/trials", serviceToken, {
    ownerEmail: n === 0 ? "bench-http@example.com" : `bench-http-${n}@example.com`,
    ownerName: "Bench",
    businessName: `Bench HTTP ${n}`,
    vapiAssistantId: ASSISTANT,
    requestedAreaCode: "415"
  })
  const ownerToken = await sign({ role: "owner", sub: String(trial?.ownerId) })
  const { business } = await api("POST", `/api/trials/${trial?.id}/convert`, serviceToken)
  const businessId = String(business?.id)
  let e164 = ""
  for (const deadline = Date.now() + 30_000; !e164; await Bun.sleep(50)) {
    if (Date.now() > deadline) throw new Error(`no number assigned: ${service.output()}`)
    const phone = (await api("GET", `/api/businesses/${businessId}`, ownerToken)).business?.phoneNumber
    e164 = String((phone as { e164?: string } | null)?.e164 ?? "")
  }
  return { businessId, ownerId: String(trial?.ownerId), ownerToken, e164 }
}

/** `count` businesses converted at once (each as `convertedBusiness`), every one with its number. */
export const convertedBusinesses = (base: string, service: ServiceProcess, count: number) =>
  Promise.all(Array.from({ length: count }, (_, n) => convertedBusiness(base, service, n + 1)))

/**
 * Waits (60 s at most) until the service's job queue holds nothing left to do: no assignment, email or other
 * job created, retrying or active. The emails of a batch of conversions (each rendered with MJML) would
 * otherwise run on the service's CPU during the measurement that follows.
 */
export const untilJobsDrained = async (databaseUrl: string) => {
  const sql = new SQL({ url: databaseUrl, max: 1 })
  try {
    for (const deadline = Date.now() + 60_000; ; await Bun.sleep(100)) {
      const [row] =
        await sql`SELECT count(*)::int AS left FROM pgboss.job WHERE state IN ('created', 'retry', 'active')`
      if ((row as { left: number }).left === 0) return
      if (Date.now() > deadline)
        throw new Error(`jobs still queued after 60 s: ${(row as { left: number }).left}`)
    }
  } finally {
    await sql.close()
  }
}

/**
 * The three hot routes as wrk targets on `base`: the owner's GET of their business, Twilio's signed inbound
 * webhook (signed over APP_URL, not the address it is sent to), and Vapi's status-update, a new call each
 * request, spread over `writeBusinessIds` (one business's updates are serialized by its event stream).
 */
export const hotRouteTargets = (
  base: string,
  business: { readonly businessId: string; readonly ownerToken: string; readonly e164: string },
  writeBusinessIds: ReadonlyArray<string>,
  twilioAuthToken: string
): { readonly get: Target; readonly twilio: Target; readonly vapi: Target } => {
  const inboundPath = `/webhooks/twilio/inbound?business_id=${business.businessId}`
  const callFields = { CallSid: "CAbenchhot", From: "+14155550100", To: business.e164, CallStatus: "ringing" }
  return {
    get: {
      url: `${base}/api/businesses/${business.businessId}`,
      headers: { authorization: `Bearer ${business.ownerToken}` }
    },
    twilio: {
      url: `${base}${inboundPath}`,
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio.getExpectedTwilioSignature(
          twilioAuthToken,
          `${PUBLIC_APP_URL}${inboundPath}`,
          callFields
        )
      },
      body: new URLSearchParams(callFields).toString()
    },
    vapi: {
      url: `${base}/webhooks/vapi?business_id=${business.businessId}`,
      paths: writeBusinessIds.map((id) => `/webhooks/vapi?business_id=${id}`),
      method: "POST",
      headers: { "content-type": "application/json", "x-vapi-secret": VAPI_SECRET },
      body: JSON.stringify({
        message: {
          type: "status-update",
          status: "in-progress",
          call: { id: "call-[<id>]", assistantId: ASSISTANT, customer: { number: "+14155550100" } }
        }
      })
    }
  }
}
