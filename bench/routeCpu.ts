// `bun bench/routeCpu.ts [get|twilio|vapi]`: the CPU one request of a hot route costs in our process, with no
// HTTP socket, wrk or other process of ours in the measurement: the service's layers (ROLE=web's, on Postgres)
// built in this process, and requests handed to the app's handler (`app.handle`) 64 at a time. The driver's
// socket to Postgres is in it (Postgres's own CPU is not), and for the inbound webhook both ends of its Vapi
// call (the fake Vapi answers in this process). Beside the route, the pieces it is made of, measured the same
// way: the repository's business read, the same SELECT with Bun's SQL client, and an Elysia route answering a
// constant; for the read, its use case and its HTTP layer alone (the route's declaration, its answer given); for
// the inbound webhook, its use case, its Vapi call through the Assistant port, through Effect's HttpClient alone
// and with a bare fetch, and its HTTP layer alone; for the status update, its use case, its transaction and that
// transaction's parts, beside the same transaction written with Bun's SQL client. Least and median CPU a
// request over 10 rounds (after 2 warm-up rounds); ROUTE_REQUESTS and ROUTE_CONCURRENCY change the round's size
// and how many run at once. With PROFILE=1 it runs the route alone (or the piece PROFILE_PIECE names) under
// Bun's CPU profiler (a sample every 200 us: about 100,000 in a run, where the profile of the service under wrk
// had about 2,000) and prints where the time went.
// The service's log lines go to this process's stdout as they would there, and are not printed.
// Not part of `bun run bench`: docs/BENCHMARKS.md's profile sections are read from it and bench/profile.ts.
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { SQL } from "bun"
import { Effect, Exit, Layer, Schema, Scope } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { SqlClient } from "effect/sql"
import { Elysia } from "elysia"
import { Call } from "../src/domain/entities.ts"
import { CallUpdated } from "../src/domain/events.ts"
import type { AssistantId, BusinessId, UserId, VapiCallId } from "../src/domain/ids.ts"
import { PUBLIC_APP_URL } from "../test/support/fakeTwilio.ts"
import { untilReady } from "../test/support/processes.ts"
import { profileOf, splitProfile } from "./cpuProfile.ts"
import { recordCallStatus } from "./handWritten/callWrites.ts"
import {
  ASSISTANT,
  AUTH_SECRET,
  convertedBusiness,
  convertedBusinesses,
  hotRouteTargets,
  startProviders,
  startService,
  untilJobsDrained,
  VAPI_SECRET
} from "./service.ts"
import { createDatabase, serverUrl } from "./support.ts"

const which = (process.argv[2] ?? "get") as "get" | "twilio" | "vapi"
if (!["get", "twilio", "vapi"].includes(which)) throw new Error(`no such route: ${which} (get, twilio, vapi)`)
const REQUESTS = Number(process.env.ROUTE_REQUESTS ?? (which === "get" ? 20_000 : 5_000))
const ROUTES = {
  get: { method: "GET", path: "/api/businesses/:id", what: "" },
  twilio: { method: "POST", path: "/webhooks/twilio/inbound", what: "" },
  vapi: { method: "POST", path: "/webhooks/vapi", what: " (status-update)" }
} as const
const ROUNDS = 12
const WARM_UP_ROUNDS = 2
const CONCURRENCY = Number(process.env.ROUTE_CONCURRENCY ?? 64)
for (const [name, value] of [
  ["ROUTE_REQUESTS", REQUESTS],
  ["ROUTE_CONCURRENCY", CONCURRENCY]
] as const) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number above 0`)
}
const WRITE_BUSINESSES = 32

// The measurement runs in a child process whose log lines (the service's JSON, to stdout as the service writes
// them) are left out of what is printed here; PROFILE=1 runs it under the profiler.
if (process.env.ROUTE_CPU_CHILD !== "1") {
  const profiling = process.env.PROFILE === "1"
  const directory = profiling ? mkdtempSync(join(tmpdir(), "numbers-route-profile-")) : ""
  const child = Bun.spawn(["bun", import.meta.path, which], {
    env: {
      ...process.env,
      ROUTE_CPU_CHILD: "1",
      ...(profiling
        ? { PROFILED: "1", BUN_OPTIONS: `--cpu-prof --cpu-prof-interval=200 --cpu-prof-dir=${directory}` }
        : {})
    },
    stdout: "pipe",
    stderr: "inherit"
  })
  let rest = ""
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n")
    rest = lines.pop() ?? ""
    for (const line of lines) if (!line.startsWith("{")) console.log(line)
  }
  if ((await child.exited) !== 0) throw new Error("the measurement failed")
  if (profiling) {
    const file = profileOf(directory, child.pid)
    const split = splitProfile(file)
    const piece = process.env.PROFILE_PIECE ?? "the route"
    console.log(`profile: ${file} (${split.samples} samples: ${piece}'s, and the setup's before it)`)
    console.table(split.byPackage)
    console.table(split.byFunction)
  }
  process.exit(0)
}

const server = await serverUrl()
const database = await createDatabase(server.url)
const providers = startProviders()
// The business is converted by a service process, as an owner's would be, then that process is stopped.
const { base, process: service } = startService(database.url, providers)
// Whatever fails, the service process, the fake providers and the database go with the run.
try {
  await untilReady(base)
  const business = await convertedBusiness(base, service)
  // Status updates are spread over WRITE_BUSINESSES businesses, as in bench/http.ts (one business's serialize on
  // its event stream's row).
  const writeBusinesses =
    which === "vapi" ? await convertedBusinesses(base, service, WRITE_BUSINESSES - 1) : []
  await untilJobsDrained(database.url)
  await service.kill("SIGTERM")

  // This process as the service would read its environment: a web process on the same database and providers.
  Object.assign(process.env, {
    ...providers.env,
    ROLE: "web",
    APP_URL: PUBLIC_APP_URL,
    DATABASE_URL: database.url,
    VAPI_WEBHOOK_SECRET: VAPI_SECRET,
    AUTH_SECRET,
    NODE_ENV: "production"
  })
  const { AppConfig, loadAppConfig } = await import("../src/app/layers/AppConfig.ts")
  const { serviceLayer } = await import("../src/app/layers/service.ts")
  const { loggerLayer, tracingLayer } = await import("../src/app/layers/telemetry.ts")
  const { makeApp } = await import("../src/app/http/app.ts")
  const { Repository } = await import("../src/ports/Repository.ts")
  const { Broadcaster } = await import("../src/ports/Broadcaster.ts")
  const { ReadSql } = await import("../src/adapters/postgres/Database.ts")
  const { handleServerMessage, ServerMessage } = await import("../src/app/usecases/VapiEvents.ts")
  const { APOLOGY_TWIML, inboundCall } = await import("../src/app/usecases/InboundCall.ts")
  const { businessFor } = await import("../src/app/usecases/Businesses.ts")
  const { apiRoutes } = await import("../src/app/http/api.ts")
  const { webhookRoutes } = await import("../src/app/http/webhooks.ts")
  const { mount } = await import("../src/app/http/route.ts")
  const { Assistant } = await import("../src/ports/Assistant.ts")
  const config = await Effect.runPromise(loadAppConfig)
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(
      serviceLayer.pipe(
        Layer.provideMerge(Layer.succeed(AppConfig, config)),
        Layer.provideMerge(tracingLayer(config)),
        // The service's logger and level (main.ts), so that a route's log lines cost what they cost there.
        Layer.provideMerge(loggerLayer(config.telemetry))
      ),
      scope
    )
  )
  const run = Effect.runPromiseWith(context)
  const settings = {
    appUrl: config.appUrl,
    authSecret: config.authSecret,
    vapiWebhookSecret: config.vapiWebhookSecret,
    twilioAuthToken: config.twilioWebhookToken
  }
  const app = makeApp(run, settings)

  const target = hotRouteTargets(
    "http://127.0.0.1",
    business,
    [business, ...writeBusinesses].map((b) => b.businessId),
    providers.twilio.authToken
  )[which]
  let sent = 0
  /** The route's request; each status update a call of its own, as in bench/http.ts. */
  const request = () => {
    const n = sent++
    const path = target.paths?.[n % target.paths.length]
    return new Request(path ? `http://127.0.0.1${path}` : target.url, {
      method: target.method ?? "GET",
      headers: target.headers ?? {},
      body: which === "vapi" ? String(target.body).replace("[<id>]", String(n)) : (target.body ?? null)
    })
  }
  const answered = async (response: Response) => {
    if (response.status !== 200) throw new Error(`answered ${response.status}: ${await response.text()}`)
    await response.arrayBuffer()
  }

  const bunSql = new SQL({ url: database.url, max: 4 })
  /**
   * The status update's steps, each on its own, spread over the route's businesses as its requests are: the use
   * case on a decoded body, its transaction, and the transaction's parts; beside them the same transaction
   * written with Bun's SQL client (the hand-written baseline's), and one bare statement on each pool.
   */
  const statusUpdateSteps = (): ReadonlyArray<readonly [string, () => Promise<unknown>]> => {
    const ids = [business, ...writeBusinesses].map((b) => b.businessId as BusinessId)
    let step = 0
    const next = () => {
      const n = step++
      return { businessId: ids[n % ids.length] as BusinessId, callId: `step-${n}` }
    }
    const callOf = ({ businessId, callId }: ReturnType<typeof next>) =>
      new Call({
        vapiCallId: callId as VapiCallId,
        callableKind: "business",
        callableId: businessId,
        status: "in-progress",
        endedReason: null,
        from: "+14155550100",
        summary: null,
        startedAt: null,
        endedAt: null
      })
    const eventOf = (call: Call) =>
      new CallUpdated({
        businessId: call.callableId as BusinessId,
        callId: call.vapiCallId,
        status: call.status,
        endedReason: call.endedReason,
        from: call.from,
        at: new Date().toISOString()
      })
    /**
     * PgBroadcaster.publish's statement, with its NOTIFY or without: what the NOTIFY costs us. Its shape is
     * publish's; its event type, payload and channel are constants here, so it measures the statement, not
     * the event's encoding.
     */
    const eventStatement = (sql: SqlClient.SqlClient, businessId: BusinessId, notify: boolean) =>
      notify
        ? sql`
          WITH s AS (
            INSERT INTO event_streams (business_id, last_offset) VALUES (${businessId}, 1)
            ON CONFLICT (business_id) DO UPDATE SET last_offset = event_streams.last_offset + 1
            RETURNING last_offset, epoch
          ), e AS (
            INSERT INTO owner_events (business_id, "offset", epoch, type, payload, created_at)
            SELECT ${businessId}, last_offset, epoch, 'call.updated', '{}', clock_timestamp() FROM s
            RETURNING "offset"
          )
          SELECT pg_notify('numbers_owner_events', ${businessId} || ':' || "offset") FROM e`
        : sql`
          WITH s AS (
            INSERT INTO event_streams (business_id, last_offset) VALUES (${businessId}, 1)
            ON CONFLICT (business_id) DO UPDATE SET last_offset = event_streams.last_offset + 1
            RETURNING last_offset, epoch
          )
          INSERT INTO owner_events (business_id, "offset", epoch, type, payload, created_at)
          SELECT ${businessId}, last_offset, epoch, 'call.updated', '{}', clock_timestamp() FROM s
          RETURNING "offset"`
    const decodeBody = Schema.decodeUnknownSync(ServerMessage)
    const record = (call: Call) =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const broadcaster = yield* Broadcaster
        const stored = yield* repo.upsertCall(call)
        yield* broadcaster.publish(call.callableId as BusinessId, eventOf(stored))
      })
    return [
      [
        "the use case alone (VapiEvents, the body decoded)",
        () => {
          const { businessId, callId } = next()
          const body = decodeBody(JSON.parse(String(target.body).replace("call-[<id>]", callId)))
          return run(handleServerMessage(businessId, body))
        }
      ],
      [
        "its transaction: the call's upsert, then the owner's event",
        () => run(Repository.use((repo) => repo.transaction(record(callOf(next())))))
      ],
      [
        "the same transaction, Bun's SQL client (the hand-written's)",
        () => {
          const { businessId, callId } = next()
          return recordCallStatus(bunSql, businessId, callId, "in-progress", "+14155550100")
        }
      ],
      [
        "an empty transaction (BEGIN, COMMIT)",
        () => run(Repository.use((repo) => repo.transaction(Effect.void)))
      ],
      ["an empty transaction, Bun's SQL client", () => bunSql.begin(async () => {})],
      [
        "Repository.upsertCall alone (a commit of its own)",
        () => run(Repository.use((repo) => repo.upsertCall(callOf(next()))))
      ],
      [
        "Broadcaster.publish alone (a commit of its own)",
        () => {
          const call = callOf(next())
          return run(
            Broadcaster.use((broadcaster) =>
              broadcaster.publish(call.callableId as BusinessId, eventOf(call))
            )
          )
        }
      ],
      [
        "the event's statement alone, bare (main pool)",
        () => run(SqlClient.SqlClient.use((sql) => eventStatement(sql, next().businessId, true)))
      ],
      [
        "the same statement without its pg_notify",
        () => run(SqlClient.SqlClient.use((sql) => eventStatement(sql, next().businessId, false)))
      ],
      [
        "SELECT $1, the main pool",
        () => run(SqlClient.SqlClient.use((sql) => sql`SELECT ${step++}::int AS n`))
      ],
      ["SELECT $1, the read pool", () => run(ReadSql.use((sql) => sql`SELECT ${step++}::int AS n`))],
      ["SELECT $1, Bun's SQL client", () => bunSql`SELECT ${step++}::int AS n`]
    ]
  }
  /**
   * The route at `path` as the app mounts it, its use case replaced by `answer`: the HTTP layer alone (the token
   * or signature, decoding, the answer's encoding, the span and the metrics).
   */
  const httpLayerOf = (path: string, routes: typeof apiRoutes | typeof webhookRoutes, answer: unknown) => {
    const declared = routes.find((r) => r.path === path)
    if (!declared) throw new Error(`no route ${path}`)
    return mount("bench", run, settings, [
      { ...declared, run: () => Effect.succeed(answer) } as typeof declared
    ])
  }
  /** The call Twilio's signed request carries (hotRouteTargets), as the inbound use case gets it decoded. */
  const call = {
    businessId: business.businessId as BusinessId,
    callSid: "CAbenchhot",
    from: "+14155550100",
    to: business.e164
  }
  /** What the inbound webhook's Vapi call sends (VapiAssistant's POST /call), for the pieces that make it alone. */
  const vapiCallBody = {
    assistantId: ASSISTANT,
    phoneCallProviderBypassEnabled: true,
    customer: { number: call.from },
    phoneNumber: { twilioPhoneNumber: call.to, twilioAccountSid: "AC", twilioAuthToken: "x" },
    transport: { provider: "twilio", callSid: call.callSid }
  }
  /**
   * The inbound webhook's steps, each on its own: its use case on the decoded form (the business read, then
   * the Vapi call); the Vapi call through the Assistant port alone, and the same request through Effect's
   * HttpClient with nothing of ours around it; and the HTTP layer alone, the TwiML given at once.
   */
  const inboundSteps = async (): Promise<ReadonlyArray<readonly [string, () => Promise<unknown>]>> => {
    const httpLayer = httpLayerOf(ROUTES.twilio.path, webhookRoutes, "<Response/>")
    // The use case answers the apology on any trouble: measured only once it is seen handing the call over.
    if ((await run(inboundCall(call))) === APOLOGY_TWIML)
      throw new Error("the inbound call was not handed to Vapi: nothing to measure")
    // The HttpClient the Vapi adapter is built on (it provides its own to the Assistant layer).
    const client = await Effect.runPromise(
      Effect.gen(function* () {
        return yield* HttpClient.HttpClient
      }).pipe(Effect.provide(FetchHttpClient.layer))
    )
    return [
      ["the use case alone (InboundCall, the form decoded)", () => run(inboundCall(call))],
      [
        "Assistant.startInboundCall alone (the fake Vapi's side included)",
        () =>
          run(
            Assistant.use((assistant) =>
              assistant.startInboundCall({ ...call, assistantId: ASSISTANT as AssistantId })
            )
          )
      ],
      [
        "the same POST /call, Effect's HttpClient alone (the fake Vapi's side included)",
        () =>
          run(
            client
              .execute(
                HttpClientRequest.post(`${providers.env.VAPI_API_URL}/call`).pipe(
                  HttpClientRequest.bearerToken(String(providers.env.VAPI_API_KEY)),
                  HttpClientRequest.bodyJsonUnsafe(vapiCallBody)
                )
              )
              .pipe(Effect.flatMap((response) => response.json))
          )
      ],
      ["the HTTP layer alone (the TwiML given at once)", () => httpLayer.handle(request()).then(answered)]
    ]
  }
  /** The read's steps: its use case (the owner's business, read), and the HTTP layer alone, that business given. */
  const readSteps = async (): Promise<ReadonlyArray<readonly [string, () => Promise<unknown>]>> => {
    const caller = { role: "owner", userId: business.ownerId as UserId } as const
    const httpLayer = httpLayerOf(ROUTES.get.path, apiRoutes, {
      business: await run(businessFor(caller, id))
    })
    return [
      ["the use case alone (GetBusiness)", () => run(businessFor(caller, id))],
      ["the HTTP layer alone (the read done beforehand)", () => httpLayer.handle(request()).then(answered)]
    ]
  }
  const route = ROUTES[which]
  const constant = new Elysia().route(route.method, route.path, () => Response.json({ constant: true }))
  const id = business.businessId as never
  const pieces: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
    [`the route: ${route.method} ${route.path}${route.what}`, () => app.handle(request()).then(answered)],
    ["Repository.findBusiness", () => run(Repository.use((repo) => repo.findBusiness(id)))],
    [
      "the same SELECT, Bun's SQL client",
      () =>
        bunSql`SELECT b.*, p.e164, p.area_code, p.twilio_sid, p.date_created FROM businesses b
          LEFT JOIN phone_numbers p ON p.business_id = b.id AND p.released_at IS NULL WHERE b.id = ${id}`
    ],
    ["an Elysia route answering a constant", () => constant.handle(request()).then(answered)],
    ...(which === "vapi" ? statusUpdateSteps() : []),
    ...(which === "twilio" ? await inboundSteps() : []),
    ...(which === "get" ? await readSteps() : []),
    // The inbound route's Vapi call goes to the fake Vapi served by this same process: both ends of it are in
    // the route's figure, and here alone, made with a bare fetch.
    ...(which === "twilio"
      ? ([
          [
            "its Vapi POST /call with fetch (the fake Vapi's side included)",
            () =>
              fetch(`${providers.env.VAPI_API_URL}/call`, {
                method: "POST",
                headers: {
                  authorization: `Bearer ${providers.env.VAPI_API_KEY}`,
                  "content-type": "application/json"
                },
                body: JSON.stringify(vapiCallBody)
              }).then((response) => response.arrayBuffer())
          ]
        ] as const)
      : [])
  ]

  /** Profiled, one piece alone: the others would be in the profile's shares too. */
  const profiled = (all: typeof pieces) => {
    if (process.env.PROFILED !== "1") return all
    const name = process.env.PROFILE_PIECE ?? all[0]?.[0]
    const chosen = all.filter(([piece]) => piece === name)
    if (chosen.length === 0) throw new Error(`PROFILE_PIECE: no piece named ${name}`)
    return chosen
  }
  const micros = (usage: NodeJS.CpuUsage) => usage.user + usage.system
  const rows: Array<Record<string, string | number>> = []
  for (const [name, once] of profiled(pieces)) {
    const perRequest: Array<number> = []
    for (let round = 0; round < ROUNDS; round++) {
      const before = process.cpuUsage()
      let next = 0
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next++ < REQUESTS) await once()
        })
      )
      if (round >= WARM_UP_ROUNDS) perRequest.push(micros(process.cpuUsage(before)) / REQUESTS)
    }
    perRequest.sort((a, b) => a - b)
    rows.push({
      piece: name,
      "least us CPU/request": Number((perRequest[0] ?? 0).toFixed(1)),
      "median us CPU/request": Number((perRequest[Math.floor(perRequest.length / 2)] ?? 0).toFixed(1))
    })
  }
  console.log(
    `${which}: ${REQUESTS} requests a round, ${CONCURRENCY} at a time, ${ROUNDS - WARM_UP_ROUNDS} rounds`
  )
  console.table(rows)

  await bunSql.close()
  await Effect.runPromise(Scope.close(scope, Exit.void))
} finally {
  await service.kill("SIGTERM")
  providers.stop()
  await database.drop()
  await server.stop()
}
process.exit(0)
