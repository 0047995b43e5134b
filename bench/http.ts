// Benchmark 3: the service's hot HTTP routes under load, as its own process on Postgres, against a bare
// Bun.serve hello-world and pgbench's simple-update rate measured in the same run on the same machine.
//   read:  GET /api/businesses/:id (an owner reading their business)
//   read:  POST /webhooks/twilio/inbound (signed; business lookup, then Vapi's TwiML from a local fake)
//   write: POST /webhooks/vapi status-update (a new call recorded, the owner told)
import { Effect, Redacted } from "effect"
import twilio from "twilio"
import { signToken } from "../src/app/http/auth.ts"
import { PUBLIC_APP_URL, startFakeTwilio } from "../test/support/fakeTwilio.ts"
import { startFakeVapi } from "../test/support/fakeVapi.ts"
import { freePort, spawnService, untilReady } from "../test/support/processes.ts"
import { checked, type Target, wrk } from "./load.ts"
import { createDatabase, pgbenchSimpleUpdate, report, serverUrl } from "./support.ts"

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const CONNECTIONS = 64
const READ_RATE = 2_000
const WRITE_RATE = 1_000
const ASSISTANT = "5f0a2c1e-7b3d-4c1a-9e2f-0000000be4c3"
const AUTH_SECRET = "bench-http-auth-secret"
const VAPI_SECRET = "bench-http-vapi-secret"

const server = await serverUrl()
const database = await createDatabase(server.url)
const twilioApi = startFakeTwilio({ defaultStock: 5 })
const vapiApi = startFakeVapi({ assistants: [ASSISTANT] })
const port = freePort()
const base = `http://127.0.0.1:${port}`
const service = spawnService({
  ROLE: "all",
  PORT: String(port),
  // Real-looking Twilio credentials need a public https APP_URL; requests still go to `base`.
  APP_URL: PUBLIC_APP_URL,
  DATABASE_URL: database.url,
  ...twilioApi.env,
  ...vapiApi.env,
  VAPI_WEBHOOK_SECRET: VAPI_SECRET,
  AUTH_SECRET
})
const barePort = freePort()
const bareHello = Bun.spawn(
  [
    "bun",
    "-e",
    `Bun.serve({ hostname: "127.0.0.1", port: ${barePort}, fetch: () => new Response("hello") })`
  ],
  { stdout: "ignore", stderr: "ignore" }
)

try {
  await untilReady(base)
  const sign = (claims: Parameters<typeof signToken>[1]) =>
    Effect.runPromise(signToken(Redacted.make(AUTH_SECRET), claims))
  const serviceToken = await sign({ role: "service" })
  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body)
    })
    return (await response.json()) as Record<string, Record<string, unknown>>
  }
  // One converted business with its number, as every route below finds it.
  const { trial } = await api("POST", "/api/trials", serviceToken, {
    ownerEmail: "bench-http@example.com",
    ownerName: "Bench",
    businessName: "Bench HTTP",
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

  const inboundPath = `/webhooks/twilio/inbound?business_id=${businessId}`
  const callFields = { CallSid: "CAbenchhttp", From: "+14155550100", To: e164, CallStatus: "ringing" }
  const routes: ReadonlyArray<{
    readonly name: string
    readonly kind: "read" | "write"
    readonly target: Target
  }> = [
    {
      name: "GET /api/businesses/:id",
      kind: "read",
      target: {
        url: `${base}/api/businesses/${businessId}`,
        headers: { authorization: `Bearer ${ownerToken}` }
      }
    },
    {
      name: "POST /webhooks/twilio/inbound",
      kind: "read",
      target: {
        url: `${base}${inboundPath}`,
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          // Twilio signs over APP_URL, not the address the request is sent to.
          "x-twilio-signature": twilio.getExpectedTwilioSignature(
            twilioApi.authToken,
            `${PUBLIC_APP_URL}${inboundPath}`,
            callFields
          )
        },
        body: new URLSearchParams(callFields).toString()
      }
    },
    {
      name: "POST /webhooks/vapi status-update",
      kind: "write",
      target: {
        url: `${base}/webhooks/vapi?business_id=${businessId}`,
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
  ]

  const bareUrl = `http://127.0.0.1:${barePort}/`
  await untilReady(`http://127.0.0.1:${barePort}`)
  const warm = (target: Target) => wrk(target, { seconds: 2, connections: CONNECTIONS })
  await warm({ url: bareUrl })
  const bare = checked(
    "bare Bun.serve",
    await wrk({ url: bareUrl }, { seconds: SECONDS, connections: CONNECTIONS })
  )
  const pgbench = pgbenchSimpleUpdate(database.url)

  const rows = []
  for (const route of routes) {
    await warm(route.target)
    const peak = checked(route.name, await wrk(route.target, { seconds: SECONDS, connections: CONNECTIONS }))
    const rate = route.kind === "read" ? READ_RATE : WRITE_RATE
    const paced = checked(
      `${route.name} at ${rate}/s`,
      await wrk(route.target, { rate, seconds: SECONDS, connections: CONNECTIONS })
    )
    const baseline = route.kind === "read" ? bare.requestsPerSecond : pgbench
    const ratio = peak.requestsPerSecond / baseline
    const ratioTarget = route.kind === "read" ? 0.25 : 0.5
    rows.push({
      route: route.name,
      kind: route.kind,
      requestsPerSecond: Math.round(peak.requestsPerSecond),
      p99AtPeakMillis: peak.p99Millis,
      baseline: route.kind === "read" ? "bare Bun.serve" : "pgbench simple-update",
      baselinePerSecond: Math.round(baseline),
      ratio: Number(ratio.toFixed(3)),
      ratioTarget,
      fixedRate: rate,
      achievedRate: Math.round(paced.requestsPerSecond),
      p50AtRateMillis: paced.p50Millis,
      p99AtRateMillis: paced.p99Millis,
      met: ratio >= ratioTarget && paced.p99Millis < 10
    })
  }
  const result = {
    benchmark: "http",
    secondsPerRun: SECONDS,
    connections: CONNECTIONS,
    bareBunRequestsPerSecond: Math.round(bare.requestsPerSecond),
    pgbenchTps: Math.round(pgbench),
    routes: rows
  }
  await report(result, rows)
} finally {
  await service.kill("SIGTERM")
  bareHello.kill("SIGTERM")
  twilioApi.stop()
  vapiApi.stop()
  await database.drop()
  await server.stop()
}
process.exit(0)
