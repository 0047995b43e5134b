// The number's life on the service as its own processes (`bun src/app/entry/main.ts`), with Twilio, Vapi and
// SMTP reached over the wire: cancelling parks the number (a signed call is rejected, Vapi is not called),
// reactivating rings it through again, an operator's "release now" gives it back to Twilio with one DELETE, and
// reactivating after that assigns (and announces) a new number. Then invariant I8: a worker SIGKILLed between
// Twilio's release and its record of it is replaced, and its successor records the release without a second one.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll } from "vitest"
import { signToken } from "../../src/app/http/auth.ts"
import { convertTrial } from "../../src/app/usecases/ConvertTrial.ts"
import { REJECT_TWIML } from "../../src/app/usecases/InboundCall.ts"
import { cancelBusiness, releaseNow } from "../../src/app/usecases/NumberLifecycle.ts"
import type { BusinessId } from "../../src/domain/ids.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { PUBLIC_APP_URL, startFakeTwilio } from "../support/fakeTwilio.ts"
import { startFakeVapi } from "../support/fakeVapi.ts"
import { newTrial } from "../support/fixtures.ts"
import type { JsonObject } from "../support/httpApp.ts"
import { eventually, freePort, spawnService, untilReady } from "../support/processes.ts"
import { databaseUrlOf, processSuite, workerEnv, workerHarness } from "../support/processStack.ts"
import { startSmtp } from "../support/smtp.ts"
import { signedInboundCall } from "../support/twilioCalls.ts"

const ASSISTANT = "5f0a2c1e-7b3d-4c1a-9e2f-00000000c1fe"
const AUTH_SECRET = "lifecycle-auth-secret"
const VAPI_SECRET = "lifecycle-vapi-secret"

interface BusinessView {
  readonly id: string
  readonly status: "active" | "cancelled"
  readonly releaseAt: string | null
  readonly numberStatus: string
  readonly phoneNumber: { readonly e164: string; readonly twilioSid: string } | null
}

/** "+14155551000" as the email writes it: "(415) 555-1000". */
const national = (e164: string) => e164.replace(/^\+1(\d{3})(\d{3})(\d{4})$/, "($1) $2-$3")

describe("a business cancels, comes back, is released and comes back again", () => {
  const twilioApi = startFakeTwilio({ defaultStock: 5, purchaseMillis: 300 })
  const vapiApi = startFakeVapi({ assistants: [ASSISTANT] })
  const { database, services } = processSuite(twilioApi, vapiApi)
  let smtp: Awaited<ReturnType<typeof startSmtp>> | undefined
  afterAll(async () => {
    await smtp?.stop()
  })

  it("parks, rings through, releases with one DELETE, then assigns and announces a new number", {
    timeout: 120_000
  }, async () => {
    smtp = await startSmtp()
    const port = freePort()
    const base = `http://127.0.0.1:${port}`
    const service = spawnService({
      ROLE: "all",
      PORT: String(port),
      APP_URL: PUBLIC_APP_URL,
      DATABASE_URL: await databaseUrlOf(database),
      ...twilioApi.env,
      ...vapiApi.env,
      VAPI_WEBHOOK_SECRET: VAPI_SECRET,
      AUTH_SECRET,
      SMTP_URL: smtp.url,
      MAIL_FROM: "Numbers <no-reply@numbers.example.com>"
    })
    services.push(service)
    await untilReady(base)

    const token = await Effect.runPromise(signToken(Redacted.make(AUTH_SECRET), { role: "service" }))
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? null : JSON.stringify(body)
      }).then(async (r) => ({ status: r.status, json: (await r.json()) as JsonObject }))
    const businessOf = async (id: string) =>
      (await api("GET", `/api/businesses/${id}`)).json.business as unknown as BusinessView
    const until = async (id: string, what: string, check: (b: BusinessView) => boolean, millis = 30_000) => {
      let last: BusinessView | undefined
      await eventually(
        async () => {
          last = await businessOf(id)
          return check(last)
        },
        what,
        millis
      ).catch((error: Error) => {
        throw new Error(`${error.message}; last seen: ${JSON.stringify(last)}`)
      })
      return last as BusinessView
    }
    let calls = 0
    const call = async (id: string, to: string) => {
      const answer = await signedInboundCall(base, twilioApi.authToken, id, {
        CallSid: `CAlife${++calls}`,
        From: "+14155550100",
        To: to,
        CallStatus: "ringing"
      })
      expect(answer.headers.get("content-type")).toContain("text/xml")
      return answer.text()
    }

    // A trial, converted: the business gets its first number and its owner the email.
    const created = await api("POST", "/api/trials", {
      ownerEmail: "lee@example.com",
      ownerName: "Lee",
      businessName: "Lee's Locks",
      vapiAssistantId: ASSISTANT,
      requestedAreaCode: "415"
    })
    expect(created.status).toBe(201)
    const conversion = await api("POST", `/api/trials/${(created.json.trial as { id: string }).id}/convert`)
    expect(conversion.status).toBe(202)
    const id = (conversion.json.business as { id: string }).id
    const first = await until(id, "the first number", (b) => b.numberStatus === "assigned")
    const firstNumber = first.phoneNumber as NonNullable<BusinessView["phoneNumber"]>
    expect(first.status).toBe("active")
    await eventually(async () => smtp?.received().length === 1, "the first email", 20_000)

    // Cancelled: the number is parked until releaseAt (at least RELEASE_MIN_GRACE_HOURS, 72 h, away); a call
    // to it is rejected without reaching Vapi.
    const cancelled = await api("POST", `/api/businesses/${id}/cancel`)
    expect(cancelled.status).toBe(202)
    const parked = cancelled.json.business as unknown as BusinessView
    expect(parked).toMatchObject({ status: "cancelled", numberStatus: "assigned", phoneNumber: firstNumber })
    expect(Date.parse(parked.releaseAt ?? "")).toBeGreaterThanOrEqual(Date.now() + 71 * 3_600_000)
    expect(await call(id, firstNumber.e164)).toBe(REJECT_TWIML)
    expect(vapiApi.calls()).toEqual([])

    // Reactivated before the release: the same number, and calls ring through to Vapi again.
    const reactivated = await api("POST", `/api/businesses/${id}/reactivate`)
    expect(reactivated.status).toBe(202)
    expect(reactivated.json.business).toMatchObject({
      status: "active",
      releaseAt: null,
      numberStatus: "assigned",
      phoneNumber: firstNumber
    })
    expect(await call(id, firstNumber.e164)).toContain('<Connect><Stream url="wss://')
    expect(vapiApi.calls()).toEqual([
      expect.objectContaining({
        assistantId: ASSISTANT,
        transport: { provider: "twilio", callSid: "CAlife2" }
      })
    ])

    // Cancelled again and released now: within seconds Twilio has been asked for the number (GET) and to
    // release it (one DELETE), and the business has no number.
    expect((await api("POST", `/api/businesses/${id}/cancel`)).status).toBe(202)
    const requestsBefore = twilioApi.requests().length
    const releasing = Date.now()
    const release = await api("POST", `/api/businesses/${id}/release`)
    expect(release.status).toBe(202)
    const released = await until(id, "the release", (b) => b.numberStatus === "released", 15_000)
    console.log(`lifecycle: release requested to recorded: ${Date.now() - releasing} ms`)
    expect(released).toMatchObject({ status: "cancelled", releaseAt: null, phoneNumber: null })
    expect(twilioApi.deletes()).toEqual([firstNumber.twilioSid])
    const numberPath = `/IncomingPhoneNumbers/${firstNumber.twilioSid}.json`
    expect(
      twilioApi
        .requests()
        .slice(requestsBefore)
        .filter((r) => r.path.endsWith(numberPath))
        .map((r) => r.method)
    ).toEqual(["GET", "DELETE"])
    // A call to the released number (Twilio would route it nowhere now) is not this business's.
    expect(await call(id, firstNumber.e164)).not.toContain("<Connect>")
    expect(vapiApi.calls()).toHaveLength(1)

    // Reactivated after the release: a new assignment (pending), then a second, different number.
    const back = await api("POST", `/api/businesses/${id}/reactivate`)
    expect(back.status).toBe(202)
    expect(back.json.business).toMatchObject({ status: "active", numberStatus: "pending", phoneNumber: null })
    const second = await until(id, "the second number", (b) => b.numberStatus === "assigned")
    const secondNumber = second.phoneNumber as NonNullable<BusinessView["phoneNumber"]>
    expect(secondNumber.twilioSid).not.toBe(firstNumber.twilioSid)
    expect(secondNumber.e164).not.toBe(firstNumber.e164)
    expect(twilioApi.purchases().map((p) => p.sid)).toEqual([firstNumber.twilioSid, secondNumber.twilioSid])
    expect(twilioApi.deletes()).toEqual([firstNumber.twilioSid])
    expect(await call(id, secondNumber.e164)).toContain("<Connect>")

    // And the owner hears of it: a second "Number assigned" email, for the new number.
    await eventually(async () => smtp?.received().length === 2, "the second email", 20_000).catch(
      async (error: Error) => {
        // What became of the email jobs, and which sends the mailer recorded (its idempotency keys).
        const [jobs, deliveries] = await database.runPromise(
          SqlClient.SqlClient.use((sql) =>
            Effect.all([
              sql`SELECT singleton_key, state FROM pgboss.job WHERE name = 'send-number-assigned-email' ORDER BY created_on`,
              sql`SELECT idempotency_key FROM email_deliveries ORDER BY 1`
            ])
          )
        )
        throw new Error(
          `${error.message}; received: ${JSON.stringify(smtp?.received().map((m) => m.subject))}; ` +
            `email jobs: ${JSON.stringify(jobs)}; email_deliveries: ${JSON.stringify(deliveries)}`
        )
      }
    )
    const [firstMail, secondMail] = smtp.received()
    expect(firstMail?.subject).toBe(`Your new phone number: ${national(firstNumber.e164)}`)
    expect(secondMail?.subject).toBe(`Your new phone number: ${national(secondNumber.e164)}`)
    expect(secondMail?.text).toContain(national(secondNumber.e164))

    expect(await service.kill("SIGTERM")).toBe(0)
  })
})

describe("a worker SIGKILLed between Twilio's release and its record of it (I8)", () => {
  const { twilio, runtime, workers } = workerHarness(startFakeTwilio({ defaultStock: 10 }))
  const businessOf = (id: BusinessId) => runtime.runPromise(Repository.use((r) => r.findBusiness(id)))
  const releaseMarked = (id: BusinessId) =>
    runtime.runPromise(Repository.use((r) => r.releaseInFlightSince(id)))

  it("is replaced; the successor finds the number gone (404/20404) and records it released, sending no second DELETE", {
    timeout: 300_000
  }, async () => {
    const env = workerEnv(await databaseUrlOf(runtime), twilio)
    const worker = spawnService(env)
    workers.push(worker)
    const business = await runtime.runPromise(
      Repository.use((r) => r.createTrial(newTrial())).pipe(Effect.flatMap((trial) => convertTrial(trial.id)))
    )
    await eventually(async () => (await businessOf(business.id))?.numberStatus === "assigned", "the number")
    const number = (await businessOf(business.id))?.phoneNumber
    assert.isDefined(number?.twilioSid)
    const sid = number?.twilioSid as string

    // Cancelled and released now; Twilio releases the number and keeps its 204.
    twilio.holdNextDelete()
    await runtime.runPromise(cancelBusiness(business.id))
    await runtime.runPromise(releaseNow(business.id))
    await twilio.held(1)
    // Killed at once: well before the adapter's 10 s request timeout, after which it would retry the DELETE itself.
    await worker.kill("SIGKILL")
    assert.deepStrictEqual(twilio.deletes(), [sid], "one DELETE, its answer held")
    const stranded = await businessOf(business.id)
    assert.strictEqual(stranded?.status, "cancelled")
    assert.strictEqual(
      stranded?.numberStatus,
      "assigned",
      "the release is not recorded: the worker died first"
    )
    assert.isNotNull(await releaseMarked(business.id), "the release was marked in flight before the DELETE")
    const requestsAtKill = twilio.requests().length

    // A second worker: the job is handed back once the dead worker's heartbeat lapses (JOB_HEARTBEAT_SECONDS=10).
    const started = Date.now()
    const successor = spawnService(env)
    workers.push(successor)
    await eventually(
      async () => (await businessOf(business.id))?.numberStatus === "released",
      "the release recorded by the successor",
      180_000
    )
    console.log(`I8: taken over and recorded released in ${((Date.now() - started) / 1000).toFixed(1)} s`)

    const ended = await businessOf(business.id)
    assert.strictEqual(ended?.status, "cancelled")
    assert.strictEqual(ended?.phoneNumber, null)
    assert.strictEqual(ended?.releaseAt, null)
    assert.isNull(await releaseMarked(business.id), "the in-flight marker is gone with the record")
    // The successor only fetched the number (answered 404/20404: Twilio released it under the dead worker) and
    // recorded that; it sent no DELETE of its own. So the one DELETE is still the dead worker's.
    assert.deepStrictEqual(twilio.deletes(), [sid], "exactly one DELETE of the number, ever")
    assert.deepStrictEqual(
      twilio
        .requests()
        .slice(requestsAtKill)
        .filter((r) => r.path.endsWith(`/IncomingPhoneNumbers/${sid}.json`))
        .map((r) => r.method),
      ["GET"],
      "the successor's one request for the number: its fetch"
    )
    assert.include(successor.stdout(), `released ${number?.e164}`)
    workers.splice(workers.indexOf(successor), 1)
    assert.strictEqual(await successor.kill("SIGTERM"), 0, "the successor stops cleanly")
  })
})
