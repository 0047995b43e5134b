// Benchmark 3: the service's hot HTTP routes under load, as its own process on Postgres, against a bare
// Bun.serve hello-world and pgbench's simple-update rate measured in the same run on the same machine, and each
// route right next to a hand-written Bun.serve + Bun SQL process doing the same work (bench/handWritten/), on the
// same database, business and fake Vapi, with the same wrk settings (issue 17's target: route / hand-written).
//   read:  GET /api/businesses/:id (an owner reading their business)
//   read:  POST /webhooks/twilio/inbound (signed; business lookup, then Vapi's TwiML from a local fake)
//   write: POST /webhooks/vapi status-update (a new call recorded, the owner told), spread over WRITE_BUSINESSES
//          businesses: each business's events are numbered one after another (its stream row is locked from the
//          event's insert to the commit), so one business's status updates are serialized by design; a thousand a
//          second come from many businesses' calls, not one's (docs/BENCHMARKS.md, section 3)
import { PUBLIC_APP_URL } from "../test/support/fakeTwilio.ts"
import { freePort, untilReady } from "../test/support/processes.ts"
import { CONNECTIONS, checked, READ_RATE, type Target, WRITE_RATE, wrk } from "./load.ts"
import {
  AUTH_SECRET,
  convertedBusiness,
  convertedBusinesses,
  hotRouteTargets,
  startProviders,
  startService,
  untilJobsDrained,
  VAPI_SECRET
} from "./service.ts"
import { createDatabase, pgbenchSimpleUpdate, report, serverUrl } from "./support.ts"

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
/** Issue 17: each route at least this fraction of its hand-written baseline's peak rate. */
const HAND_WRITTEN_TARGET = 0.6
/** The businesses the write route's status updates are spread over, in turn. */
const WRITE_BUSINESSES = 100

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

/** A hand-written baseline (bench/handWritten/<file>) as its own process, on the service's settings. */
const handWritten = (file: string) => {
  const port = freePort()
  const child = Bun.spawn(["bun", `${import.meta.dirname}/handWritten/${file}`], {
    env: {
      ...process.env,
      ...providers.env,
      PORT: String(port),
      DATABASE_URL: database.url,
      APP_URL: PUBLIC_APP_URL,
      AUTH_SECRET,
      VAPI_WEBHOOK_SECRET: VAPI_SECRET
    },
    stdout: "ignore",
    stderr: "inherit"
  })
  return { base: `http://127.0.0.1:${port}`, child }
}
const handWrittenServers = {
  get: handWritten("getBusiness.ts"),
  twilio: handWritten("twilioInbound.ts"),
  vapi: handWritten("vapiStatus.ts")
}

try {
  await untilReady(base)
  for (const server of Object.values(handWrittenServers)) await untilReady(server.base)
  // One converted business with its number, as every route below finds it.
  const { businessId, ownerToken, e164 } = await convertedBusiness(base, service)
  const writeBusinesses = await convertedBusinesses(base, service, WRITE_BUSINESSES)
  await untilJobsDrained(database.url)

  const targets = hotRouteTargets(
    base,
    { businessId, ownerToken, e164 },
    writeBusinesses.map((business) => business.businessId),
    twilioApi.authToken
  )
  const routes: ReadonlyArray<{
    readonly name: string
    readonly kind: "read" | "write"
    readonly target: Target
    readonly handWritten: string
  }> = [
    {
      name: "GET /api/businesses/:id",
      kind: "read",
      handWritten: handWrittenServers.get.base,
      target: targets.get
    },
    {
      name: "POST /webhooks/twilio/inbound",
      kind: "read",
      handWritten: handWrittenServers.twilio.base,
      target: targets.twilio
    },
    {
      name: "POST /webhooks/vapi status-update",
      kind: "write",
      handWritten: handWrittenServers.vapi.base,
      target: targets.vapi
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
    const rate = route.kind === "read" ? READ_RATE : WRITE_RATE
    // Peak, then p99 at the fixed rate, each after a warm-up: the route, then its hand-written baseline.
    const measure = async (what: string, target: Target) => {
      await warm(target)
      const peak = checked(what, await wrk(target, { seconds: SECONDS, connections: CONNECTIONS }))
      const paced = checked(
        `${what} at ${rate}/s`,
        await wrk(target, { rate, seconds: SECONDS, connections: CONNECTIONS })
      )
      return { peak, paced }
    }
    const { peak, paced } = await measure(route.name, route.target)
    // The same path and query on the hand-written server: Twilio's signature is over APP_URL, not the host.
    const handTarget = { ...route.target, url: route.target.url.replace(base, route.handWritten) }
    // The baseline must answer as the route does (a fresh call id for the write; Vapi's TwiML, not an apology).
    const answer = async (target: Target) => {
      const response = await fetch(target.url, {
        method: target.method ?? "GET",
        headers: target.headers ?? {},
        body: target.body?.replace("[<id>]", crypto.randomUUID()) ?? null
      })
      // (Fake Vapi numbers its calls: the TwiML's stream URL is compared without its call id.)
      return `${response.status} ${(await response.text()).replace(/\/[\w-]{36}\/transport/, "/<id>/transport")}`
    }
    const [fromRoute, fromHand] = [await answer(route.target), await answer(handTarget)]
    const same = route.name.startsWith("GET")
      ? Bun.deepEquals(JSON.parse(fromRoute.slice(4)), JSON.parse(fromHand.slice(4)))
      : fromRoute === fromHand
    if (!same || fromHand.includes("Sorry"))
      throw new Error(`${route.name}: the hand-written answer differs\n${fromRoute}\n${fromHand}`)
    const hand = await measure(`${route.name} (hand-written)`, handTarget)
    const ratioToHandWritten = peak.requestsPerSecond / hand.peak.requestsPerSecond
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
      met: ratio >= ratioTarget && paced.p99Millis < 10,
      handWrittenPerSecond: Math.round(hand.peak.requestsPerSecond),
      handWrittenP99AtRateMillis: hand.paced.p99Millis,
      ratioToHandWritten: Number(ratioToHandWritten.toFixed(3)),
      ratioToHandWrittenTarget: HAND_WRITTEN_TARGET,
      handWrittenMet: ratioToHandWritten >= HAND_WRITTEN_TARGET
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
  for (const server of Object.values(handWrittenServers)) server.child.kill("SIGTERM")
  providers.stop()
  await database.drop()
  await server.stop()
}
process.exit(0)
