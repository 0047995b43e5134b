// Benchmark 3: the service's hot HTTP routes under load, as its own process on Postgres, against a bare
// Bun.serve hello-world and pgbench's simple-update rate measured in the same run on the same machine.
//   read:  GET /api/businesses/:id (an owner reading their business)
//   read:  POST /webhooks/twilio/inbound (signed; business lookup, then Vapi's TwiML from a local fake)
//   write: POST /webhooks/vapi status-update (a new call recorded, the owner told)
import twilio from "twilio"
import { PUBLIC_APP_URL } from "../test/support/fakeTwilio.ts"
import { freePort, untilReady } from "../test/support/processes.ts"
import { CONNECTIONS, checked, READ_RATE, type Target, WRITE_RATE, wrk } from "./load.ts"
import { ASSISTANT, convertedBusiness, startProviders, startService, VAPI_SECRET } from "./service.ts"
import { createDatabase, pgbenchSimpleUpdate, report, serverUrl } from "./support.ts"

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)

const server = await serverUrl()
const database = await createDatabase(server.url)
const providers = startProviders()
const twilioApi = providers.twilio
const { base, process: service } = startService(database.url, providers)
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
  // One converted business with its number, as every route below finds it.
  const { businessId, ownerToken, e164 } = await convertedBusiness(base, service)

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
  providers.stop()
  await database.drop()
  await server.stop()
}
process.exit(0)
