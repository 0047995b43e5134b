// Telemetry of the service as its own process (`bun src/app/entry/main.ts`), with Twilio, Vapi and SMTP reached
// over the wire: the spans of a conversion exported over OTLP/HTTP to a local collector, as one trace from
// the API request to the email; /metrics moving by exactly what was done; JSON log lines naming their trace,
// span and business. Then a worker (ROLE=worker): /metrics, 404 for the API, spans in protobuf, pretty logs.
import { mkdirSync, writeFileSync } from "node:fs"
import { Effect, Redacted } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { signToken } from "../../src/app/http/auth.ts"
import { convertTrial } from "../../src/app/usecases/ConvertTrial.ts"
import { AssistantId, TrialId } from "../../src/domain/ids.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { PUBLIC_APP_URL, startFakeTwilio } from "../support/fakeTwilio.ts"
import { startFakeVapi } from "../support/fakeVapi.ts"
import type { JsonObject } from "../support/httpApp.ts"
import { attributesOf, type ReceivedSpan, startOtlpReceiver } from "../support/otlpReceiver.ts"
import { eventually, freePort, type ServiceProcess, spawnService, untilReady } from "../support/processes.ts"
import { databaseUrlOf, processSuite } from "../support/processStack.ts"
import { parsePrometheus, type Sample, sumOf } from "../support/prometheus.ts"
import { startSmtp } from "../support/smtp.ts"
import { signedInboundCall } from "../support/twilioCalls.ts"

const AUTH_SECRET = "telemetry-auth-secret"
const VAPI_SECRET = "telemetry-vapi-secret"
/** A collector's key, as OTEL_EXPORTER_OTLP_HEADERS percent-encodes it. */
const COLLECTOR_KEY = "k%3Dcollector-secret"
const SERVER = 2
const CLIENT = 3
const PRODUCER = 4
const CONSUMER = 5

const KINDS = ["", "internal", "server", "client", "producer", "consumer"]

/** A trace as an indented tree: name, kind, duration; children in start order. */
const treeOf = (trace: ReadonlyArray<ReceivedSpan>): string => {
  const children = Map.groupBy(trace, (s) => s.parentSpanId ?? "")
  const lines: Array<string> = []
  const walk = (span: ReceivedSpan, depth: number) => {
    const millis = Number(BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano)) / 1e6
    lines.push(`${"  ".repeat(depth)}${span.name} [${KINDS[span.kind]}] ${millis.toFixed(1)} ms`)
    const below = [...(children.get(span.spanId) ?? [])].sort((a, b) =>
      BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1
    )
    for (const child of below) walk(child, depth + 1)
  }
  for (const root of trace.filter((s) => !s.parentSpanId)) walk(root, 0)
  return lines.join("\n")
}

/** What a person reads after a run: test-output/telemetry/. */
const keep = (file: string, text: string) => {
  mkdirSync("test-output/telemetry", { recursive: true })
  writeFileSync(`test-output/telemetry/${file}`, `${text}\n`)
}

/** How many of each the test does. */
const N = 2
const M = 1
const K = 2

describe("telemetry, the service as its own process", () => {
  const twilioApi = startFakeTwilio({ stock: { "212": 0 }, defaultStock: 10 })
  const vapiApi = startFakeVapi({ acceptAll: true })
  const collector = startOtlpReceiver()
  const { database, services } = processSuite(twilioApi, vapiApi, collector)
  let smtp: Awaited<ReturnType<typeof startSmtp>> | undefined
  afterAll(async () => {
    await smtp?.stop()
  })

  const sign = (claims: Parameters<typeof signToken>[1]) =>
    Effect.runPromise(signToken(Redacted.make(AUTH_SECRET), claims))

  const environment = async () => ({
    APP_URL: PUBLIC_APP_URL,
    DATABASE_URL: await databaseUrlOf(database),
    ...twilioApi.env,
    ...vapiApi.env,
    VAPI_WEBHOOK_SECRET: VAPI_SECRET,
    AUTH_SECRET,
    SMTP_URL: smtp?.url ?? "",
    MAIL_FROM: "Numbers <no-reply@numbers.example.com>",
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url
  })

  let serviceToken = ""
  let ownerToken = ""
  /** What the first process did, for the trace's checks after it stopped. */
  const done = { businessIds: [] as Array<string>, failedId: "", trialIds: [] as Array<string> }
  let all: ServiceProcess | undefined

  it("counts a conversion's work exactly in /metrics, and logs it in JSON lines naming trace, span and business", {
    timeout: 120_000
  }, async () => {
    smtp = await startSmtp()
    serviceToken = await sign({ role: "service" })
    ownerToken = await sign({ role: "owner", sub: crypto.randomUUID() })
    const port = freePort()
    const base = `http://127.0.0.1:${port}`
    all = spawnService({
      ...(await environment()),
      ROLE: "all",
      PORT: String(port),
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json"
    })
    services.push(all)
    await untilReady(base)

    const api = (method: string, path: string, token: string | null, body?: unknown) =>
      fetch(`${base}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          "content-type": "application/json"
        },
        body: body === undefined ? null : JSON.stringify(body)
      })
    const metrics = async (): Promise<Array<Sample>> => {
      const response = await api("GET", "/metrics", serviceToken)
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
      return parsePrometheus(await response.text())
    }

    // Refused without a service token.
    expect((await api("GET", "/metrics", null)).status).toBe(401)
    expect((await api("GET", "/metrics", "not.a.jwt")).status).toBe(401)
    expect((await api("GET", "/metrics", ownerToken)).status).toBe(403)
    const before = await metrics()

    /** Creates and converts a trial, and waits until its assignment has settled (and its email is sent). */
    const convert = async (n: number) => {
      const created = await api("POST", "/api/trials", serviceToken, {
        ownerEmail: `owner-${n}-${crypto.randomUUID()}@example.com`,
        ownerName: "Dana",
        businessName: `Dana's Dental ${n}`,
        vapiAssistantId: `asst-telemetry-${n}-${crypto.randomUUID()}`,
        requestedAreaCode: "212"
      })
      expect(created.status).toBe(201)
      const trial = ((await created.json()) as JsonObject).trial as { id: string }
      const converted = await api("POST", `/api/trials/${trial.id}/convert`, serviceToken)
      expect(converted.status).toBe(202)
      const id = (((await converted.json()) as JsonObject).business as { id: string }).id
      let settled: JsonObject = {}
      await eventually(async () => {
        const answer = await api("GET", `/api/businesses/${id}`, serviceToken)
        settled = ((await answer.json()) as JsonObject).business as JsonObject
        return (
          settled.numberStatus === "failed" ||
          (settled.numberStatus === "assigned" && settled.assistantStatus === "connected")
        )
      }, `business ${id} settled`)
      return { trialId: trial.id, id, business: settled }
    }

    for (let n = 0; n < N; n++) {
      const { trialId, id, business } = await convert(n)
      expect(business.numberStatus).toBe("assigned")
      done.businessIds.push(id)
      done.trialIds.push(trialId)
    }
    await eventually(async () => smtp?.received().length === N, "the emails", 20_000)
    // A rejected Twilio (401) fails an assignment at once.
    for (let n = 0; n < M; n++) {
      twilioApi.injectFaults("401")
      const { id, business } = await convert(N + n)
      expect(business.numberStatus).toBe("failed")
      done.failedId = id
    }

    // K signed calls to the first business's number, each handed to Vapi.
    const first = (await (
      await api("GET", `/api/businesses/${done.businessIds[0]}`, serviceToken)
    ).json()) as {
      business: { phoneNumber: { e164: string } }
    }
    for (let n = 0; n < K; n++) {
      const call = await signedInboundCall(base, twilioApi.authToken, String(done.businessIds[0]), {
        CallSid: `CAtel${n}`,
        From: "+14155550100",
        To: first.business.phoneNumber.e164
      })
      expect(await call.text()).toContain("<Connect>")
    }
    // And one of Vapi's server messages, with our secret.
    const vapiMessage = await fetch(`${base}/webhooks/vapi?business_id=${done.businessIds[0]}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-vapi-secret": VAPI_SECRET },
      body: JSON.stringify({
        message: { type: "status-update", status: "in-progress", call: { id: "call-telemetry-1" } }
      })
    })
    expect(vapiMessage.status).toBe(200)

    const afterResponse = await api("GET", "/metrics", serviceToken)
    keep("metrics.txt", await afterResponse.text())
    const after = await metrics()
    const moved = (name: string, labels: Record<string, string> = {}) =>
      sumOf(after, name, labels) - sumOf(before, name, labels)
    expect({
      assigned: moved("numbers_assignments_total", { outcome: "assigned" }),
      failed: moved("numbers_assignments_total", { outcome: "failed" }),
      durations: moved("numbers_assignment_duration_seconds_count"),
      // Each assignment asked for 212 (sold out) first, then bought in 415; the failed one never got that far.
      empty: moved("numbers_area_code_attempts_total", { result: "empty" }),
      purchased: moved("numbers_area_code_attempts_total", { result: "purchased" }),
      invalid: moved("numbers_area_code_attempts_total", { result: "invalid" }),
      error: moved("numbers_area_code_attempts_total", { result: "error" }),
      conversions: moved("numbers_http_requests_total", { route: "/api/trials/:id/convert", status: "202" }),
      conversionTimes: moved("numbers_http_request_duration_seconds_count", {
        route: "/api/trials/:id/convert"
      }),
      inbound: moved("numbers_http_requests_total", { route: "/webhooks/twilio/inbound", status: "200" }),
      vapiWebhook: moved("numbers_http_requests_total", { route: "/webhooks/vapi", status: "200" }),
      twilioPurchasesOk: moved("numbers_provider_requests_total", {
        provider: "twilio",
        operation: "purchase",
        outcome: "ok"
      }),
      twilioPurchasesEmpty: moved("numbers_provider_requests_total", {
        provider: "twilio",
        operation: "purchase",
        outcome: "client_error"
      }),
      twilioLookups: moved("numbers_provider_requests_total", {
        provider: "twilio",
        operation: "find_owned"
      }),
      twilioRejected: moved("numbers_provider_requests_total", {
        provider: "twilio",
        outcome: "client_error"
      }),
      twilioTimed: moved("numbers_provider_request_duration_seconds_count", { provider: "twilio" }),
      vapiConnected: moved("numbers_provider_requests_total", {
        provider: "vapi",
        operation: "set_server",
        outcome: "ok"
      }),
      vapiCalls: moved("numbers_provider_requests_total", {
        provider: "vapi",
        operation: "start_inbound_call",
        outcome: "ok"
      }),
      emails: moved("numbers_provider_requests_total", {
        provider: "smtp",
        operation: "send",
        outcome: "ok"
      }),
      assignedEvents: moved("numbers_owner_events_total", { type: "number.assigned" }),
      failedEvents: moved("numbers_owner_events_total", { type: "number.failed" })
    }).toEqual({
      assigned: N,
      failed: M,
      durations: N,
      empty: N,
      purchased: N,
      invalid: 0,
      error: 0,
      conversions: N + M,
      conversionTimes: N + M,
      inbound: K,
      vapiWebhook: 1,
      twilioPurchasesOk: N,
      twilioPurchasesEmpty: N,
      // One lookup by FriendlyName before buying, per assignment; the failed one's was refused (401).
      twilioLookups: N + M,
      twilioRejected: N + M,
      twilioTimed: N + N + N + M,
      vapiConnected: N,
      vapiCalls: K,
      emails: N,
      assignedEvents: N,
      failedEvents: M
    })
    // Routes are patterns, never raw paths.
    expect(
      after.filter(
        (s) => s.name === "numbers_http_requests_total" && /[0-9a-f]{8}-/.test(s.labels.route ?? "")
      )
    ).toEqual([])
    // The job gauge, per queue and state, labelled with this instance.
    const jobGauge = after.filter((s) => s.name === "numbers_jobs" && s.labels.queue === "assign-number")
    expect(jobGauge.map((s) => s.labels.state).sort()).toEqual(["active", "created", "failed", "retry"])
    expect(jobGauge.every((s) => (s.labels.instance ?? "") !== "")).toBe(true)
    expect(sumOf(after, "numbers_cable_connections")).toBe(0)

    // Logs: JSON lines (stdout is a pipe); the assignment's lines name the business, its trace and span.
    const lines = all
      .stdout()
      .split("\n")
      .filter((line) => line.trim() !== "")
    const logs = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    keep("logs.jsonl", lines.filter((line) => line.includes(done.businessIds[0] ?? "no business")).join("\n"))
    const assignedLine = logs.find(
      (log) => log.business_id === done.businessIds[0] && String(log.message).startsWith("assigned +1415")
    )
    expect(assignedLine).toMatchObject({
      level: "INFO",
      job_id: expect.any(String),
      trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      span_id: expect.stringMatching(/^[0-9a-f]{16}$/)
    })
    // A provider call's line carries the provider's request id, in the same trace.
    const twilioLine = logs.find(
      (log) =>
        log.business_id === done.businessIds[0] &&
        log.provider === "twilio" &&
        String(log.message).includes("answered 201")
    )
    expect(twilioLine).toMatchObject({
      twilio_request_id: expect.stringMatching(/^RQ[0-9a-f]{32}$/),
      trace_id: assignedLine?.trace_id
    })
  })

  it("exports one trace per conversion, from the API request to the email, and no secret in it", {
    timeout: 60_000
  }, async () => {
    // Spans are flushed on shutdown.
    expect(await all?.kill("SIGTERM")).toBe(0)
    const spans = collector.spans()
    const attrs = (span: ReceivedSpan) => attributesOf(span.attributes)
    const convert = spans.find(
      (s) =>
        s.name === "POST /api/trials/:id/convert" &&
        attrs(s)["url.path"] === `/api/trials/${done.trialIds[0]}/convert`
    )
    if (!convert) throw new Error(`no conversion span among ${spans.map((s) => s.name).join(", ")}`)
    expect(convert.kind).toBe(SERVER)
    expect(convert.parentSpanId ?? "").toBe("")
    expect(attrs(convert)).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/api/trials/:id/convert",
      "http.response.status_code": 202
    })
    expect(convert.resource).toMatchObject({ "service.name": "numbers", "numbers.role": "all" })

    const trace = spans.filter((s) => s.traceId === convert.traceId)
    keep("trace.txt", treeOf(trace))
    const named = (name: string) => trace.filter((s) => s.name === name)
    const one = (name: string) => {
      const found = named(name)
      expect(
        found.map((s) => s.name),
        `${name} in ${trace.map((s) => s.name).join(", ")}`
      ).toEqual([name])
      return found[0] as ReceivedSpan
    }
    const byId = new Map(trace.map((s) => [s.spanId, s]))
    /** The chain of span names from `span` up to the trace's root. */
    const ancestry = (span: ReceivedSpan): Array<string> => {
      const parent = span.parentSpanId ? byId.get(span.parentSpanId) : undefined
      return parent ? [...ancestry(parent), parent.name] : []
    }

    // The API request queues the job: a producer span, whose consumer is its child.
    const produced = one("send assign-number")
    expect(produced.kind).toBe(PRODUCER)
    expect(ancestry(produced)).toContain("POST /api/trials/:id/convert")
    const consumed = one("process assign-number")
    expect(consumed.kind).toBe(CONSUMER)
    expect(consumed.parentSpanId).toBe(produced.spanId)
    expect(attrs(consumed)).toMatchObject({
      "messaging.system": "pg-boss",
      "messaging.destination.name": "assign-number"
    })

    // The assignment: a span per port call, under the job's.
    const assignment = one("AssignNumber")
    expect(ancestry(assignment)).toContain("process assign-number")
    for (const name of [
      "Repository.withBusinessLock",
      "Telephony.findOwned",
      "Repository.recordNumber",
      "send send-number-assigned-email",
      "Broadcaster.publish",
      "Assistant.setServer",
      "Repository.setAssistantStatus"
    ]) {
      expect(ancestry(one(name)), name).toContain("AssignNumber")
    }
    const purchases = named("Telephony.purchase").map((s) => attrs(s))
    expect(purchases.map((a) => [a["telephony.area_code"], a["telephony.outcome"]])).toEqual([
      ["212", "empty"],
      ["415", "purchased"]
    ])

    // Twilio over HTTP: a client span per request, under its port call, with Twilio's request id.
    const twilioRequests = trace.filter(
      (s) => s.kind === CLIENT && String(attrs(s)["url.full"]).startsWith(twilioApi.url)
    )
    expect(twilioRequests.map((s) => [s.name, attrs(s)["http.response.status_code"]]).sort()).toEqual([
      ["GET /2010-04-01/Accounts/{Sid}/IncomingPhoneNumbers.json", 200],
      ["POST /2010-04-01/Accounts/{Sid}/IncomingPhoneNumbers.json", 201],
      ["POST /2010-04-01/Accounts/{Sid}/IncomingPhoneNumbers.json", 400]
    ])
    for (const request of twilioRequests) {
      expect(attrs(request)["twilio.request_id"]).toMatch(/^RQ[0-9a-f]{32}$/)
      expect(byId.get(request.parentSpanId ?? "")?.name).toMatch(/^Telephony\./)
    }
    // Vapi: the HttpClient's own client span, its URL with no key.
    const patch = one("PATCH /assistant/{id}")
    expect(patch.kind).toBe(CLIENT)
    expect(byId.get(patch.parentSpanId ?? "")?.name).toBe("Assistant.setServer")
    expect(attrs(patch)["url.full"]).toMatch(new RegExp(`^${vapiApi.url}/assistant/asst-telemetry-0-`))
    expect(attrs(patch)["http.response.status_code"]).toBe(200)

    // The email job: consumer of the producer the assignment made, down to the SMTP send.
    const email = one("process send-number-assigned-email")
    expect(email.kind).toBe(CONSUMER)
    expect(email.parentSpanId).toBe(one("send send-number-assigned-email").spanId)
    const smtpSend = one("smtp send")
    expect(smtpSend.kind).toBe(CLIENT)
    expect(ancestry(smtpSend)).toEqual(
      expect.arrayContaining(["process send-number-assigned-email", "SendNumberAssignedEmail", "Mailer.send"])
    )

    // The webhooks: server spans of their own traces; a call handed to Vapi is a client span under it.
    const inbound = spans.filter((s) => s.name === "POST /webhooks/twilio/inbound")
    expect(inbound).toHaveLength(K)
    for (const span of inbound) {
      expect(span.kind).toBe(SERVER)
      const startCall = spans.find((s) => s.traceId === span.traceId && s.name === "POST /call")
      expect(startCall?.kind).toBe(CLIENT)
    }
    expect(spans.filter((s) => s.name === "POST /webhooks/vapi").map((s) => s.kind)).toEqual([SERVER])
    // Probes and scrapes are not exported.
    expect(spans.filter((s) => ["GET /ready", "GET /health", "GET /metrics"].includes(s.name))).toEqual([])

    // No secret in anything exported: every value of every request, attributes, events and resources alike.
    const exported = collector
      .requests()
      .map((r) => new TextDecoder().decode(r.body))
      .join("\n")
    const secrets = [
      AUTH_SECRET,
      VAPI_SECRET,
      twilioApi.authToken,
      vapiApi.apiKey,
      "smtp-test-password",
      serviceToken,
      ownerToken,
      "Bearer ",
      "Basic "
    ]
    expect(secrets.filter((secret) => exported.includes(secret))).toEqual([])
  })

  it("serves /metrics (and nothing of the API) from a worker, which exports protobuf and logs for a person", {
    timeout: 90_000
  }, async () => {
    const port = freePort()
    const base = `http://127.0.0.1:${port}`
    const before = collector.requests().length
    const worker = spawnService({
      ...(await environment()),
      ROLE: "worker",
      PORT: String(port),
      LOG_FORMAT: "pretty",
      OTEL_EXPORTER_OTLP_HEADERS: `x-collector-key=${COLLECTOR_KEY},x-tenant=numbers%20tests`
    })
    services.push(worker)
    await untilReady(base)
    const get = (path: string, token: string | null) =>
      fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} })
    const scraped = await get("/metrics", serviceToken)
    expect(scraped.status).toBe(200)
    expect(sumOf(parsePrometheus(await scraped.text()), "numbers_assignments_total")).toBe(0)
    expect((await get("/metrics", null)).status).toBe(401)
    expect((await get("/api/businesses", serviceToken)).status).toBe(404)
    expect((await get("/health", null)).status).toBe(200)

    // A job for it: a conversion queued by this test process, run by the worker.
    const businessId = await database.runPromise(
      Effect.gen(function* () {
        const trial = yield* (yield* Repository).createTrial({
          ownerEmail: "worker-owner@example.com",
          ownerName: "Wes",
          businessName: "Worker Dental",
          vapiAssistantId: AssistantId.make(`asst-worker-${crypto.randomUUID()}`),
          requestedAreaCode: "415"
        })
        return (yield* convertTrial(TrialId.make(trial.id))).id
      })
    )
    await eventually(
      async () =>
        sumOf(
          parsePrometheus(await (await get("/metrics", serviceToken)).text()),
          "numbers_assignments_total",
          { outcome: "assigned" }
        ) === 1,
      `business ${businessId} assigned by the worker`
    )
    expect(await worker.kill("SIGTERM")).toBe(0)
    // http/protobuf, the default: the collector took a binary body.
    const sent = collector.requests().slice(before)
    expect(sent.length).toBeGreaterThan(0)
    expect(sent.every((r) => r.contentType === "application/x-protobuf" && r.body.length > 0)).toBe(true)
    // OTEL_EXPORTER_OTLP_HEADERS: on every export, percent-decoded; the key is never logged.
    expect(sent.map((r) => [r.headers["x-collector-key"], r.headers["x-tenant"]])).toEqual(
      sent.map(() => [decodeURIComponent(COLLECTOR_KEY), "numbers tests"])
    )
    expect(worker.output()).not.toContain(decodeURIComponent(COLLECTOR_KEY))
    // LOG_FORMAT=pretty: lines for a person, not JSON.
    const ready = worker
      .stdout()
      .split("\n")
      .find((line) => line.includes("numbers: ready as worker"))
    expect(ready).toBeDefined()
    expect(() => JSON.parse(ready ?? "")).toThrow()
  })
})
