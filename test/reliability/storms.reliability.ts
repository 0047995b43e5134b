// The reliability storms (docs/RELIABILITY.md): worker processes killed at random, providers failing at random,
// SMTP down for a while. Whatever happens, every business gets exactly one number and its owner one email.

import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { afterEach, describe, expect, it } from "vitest"
import { convertTrial } from "../../src/app/usecases/ConvertTrial.ts"
import { AssignNumberJob, JobQueue } from "../../src/ports/JobQueue.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { type FakeTwilio, startFakeTwilio } from "../support/fakeTwilio.ts"
import { startFakeVapi } from "../support/fakeVapi.ts"
import { reportFigures } from "../support/figures.ts"
import { newTrial } from "../support/fixtures.ts"
import { eventually, type ServiceProcess, spawnService } from "../support/processes.ts"
import { databaseUrlOf, processStack, workerEnv } from "../support/processStack.ts"
import { type LocalSmtp, startSmtp } from "../support/smtp.ts"

const BUSINESSES = Number(process.env.RELIABILITY_BUSINESSES ?? 500)
const KILLS = Number(process.env.RELIABILITY_KILLS ?? 10)
const WORKERS = 3

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const setUp = async (twilio: FakeTwilio) => {
  const runtime = processStack(twilio)
  cleanups.push(() => runtime.dispose())
  const databaseUrl = await databaseUrlOf(runtime)
  const count = (query: string) =>
    runtime.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const [row] = yield* sql.unsafe<{ readonly n: number }>(query)
        return row?.n ?? -1
      })
    )
  const convertAll = (n: number) =>
    runtime.runPromise(
      Effect.forEach(
        Array.from({ length: n }),
        () =>
          Repository.use((r) => r.createTrial(newTrial({ requestedAreaCode: "415" }))).pipe(
            Effect.flatMap((t) => convertTrial(t.id))
          ),
        { concurrency: 8 }
      )
    )
  const enqueueAgain = (ids: ReadonlyArray<string>) =>
    runtime.runPromise(
      Effect.forEach(
        ids,
        (id) =>
          JobQueue.use((q) => q.enqueue(AssignNumberJob.make({ businessId: id as never }), { key: id })),
        {
          concurrency: 8,
          discard: true
        }
      )
    )
  return { runtime, databaseUrl, count, convertAll, enqueueAgain }
}

const settled = async (
  count: (q: string) => Promise<number>,
  smtp: LocalSmtp,
  n: number,
  timeoutMillis: number
) =>
  eventually(
    async () =>
      (await count("SELECT count(*)::int AS n FROM businesses WHERE number_status <> 'assigned'")) === 0 &&
      (await count(
        "SELECT count(*)::int AS n FROM pgboss.job WHERE state < 'completed' AND name NOT LIKE '%-dead'"
      )) === 0 &&
      smtp.received().length >= n,
    "every business assigned, every job done and every email sent",
    timeoutMillis
  )

const emailsPerBusiness = (smtp: LocalSmtp) => {
  const keys = smtp.received().map((mail) => String(mail.headers.get("x-idempotency-key")))
  const messageIds = smtp.received().map((mail) => String(mail.headers.get("message-id")))
  return { total: keys.length, distinct: new Set(keys).size, distinctMessageIds: new Set(messageIds).size }
}

describe("reliability storms", () => {
  it(`${WORKERS} workers x ${BUSINESSES} businesses x 3 deliveries, ${KILLS} random SIGKILLs`, async () => {
    const twilio = startFakeTwilio({ defaultStock: BUSINESSES * 2, purchaseMillis: 25 })
    const smtp = await startSmtp()
    cleanups.push(
      () => twilio.stop(),
      () => smtp.stop()
    )
    const { databaseUrl, count, convertAll, enqueueAgain } = await setUp(twilio)
    const env = workerEnv(databaseUrl, twilio, { SMTP_URL: smtp.url })
    const workers: Array<ServiceProcess> = Array.from({ length: WORKERS }, () => spawnService(env))
    cleanups.push(() => Promise.all(workers.map((w) => w.kill("SIGKILL"))).then(() => undefined))

    const started = Date.now()
    const businesses = await convertAll(BUSINESSES)
    const ids = businesses.map((b) => b.id)
    const redeliver = (async () => {
      await enqueueAgain(ids)
      await Bun.sleep(1_000)
      await enqueueAgain(ids)
    })()
    for (let k = 0; k < KILLS; k++) {
      await Bun.sleep(300 + Math.random() * 1_200)
      const victim = Math.floor(Math.random() * workers.length)
      await workers[victim]?.kill("SIGKILL")
      workers[victim] = spawnService(env)
    }
    await redeliver
    await settled(count, smtp, BUSINESSES, 300_000)
    await Bun.sleep(2_000) // a late duplicate would show up now
    const emails = emailsPerBusiness(smtp)
    const figures = {
      businesses: BUSINESSES,
      kills: KILLS,
      purchases: twilio.purchases().length,
      numbers: await count("SELECT count(*)::int AS n FROM phone_numbers"),
      emails: emails.distinct,
      // SMTP has no idempotent send: a worker killed after the server took a message and before the send
      // was recorded sends it again on takeover, with the same Message-ID (one message to the mailbox).
      resentAfterKill: emails.total - emails.distinct,
      seconds: (Date.now() - started) / 1000
    }
    reportFigures("kill storm", figures)
    expect(figures.purchases).toBe(BUSINESSES)
    expect(new Set(twilio.purchases().map((p) => p.friendlyName)).size).toBe(BUSINESSES)
    expect(figures.numbers).toBe(BUSINESSES)
    expect(emails.distinct).toBe(BUSINESSES)
    expect(emails.distinctMessageIds).toBe(BUSINESSES)
    // At most the emails in flight in the killed workers (WORKER_CONCURRENCY each).
    expect(figures.resentAfterKill).toBeLessThanOrEqual(KILLS * 8)
  })

  it("provider chaos (Twilio 429/5xx/resets/timeouts/ambiguous, Vapi 5xx) and SMTP down for 15 s", async () => {
    const n = Math.min(BUSINESSES, 200)
    const twilio = startFakeTwilio({ defaultStock: n * 2, chaos: 0.2, slowMillis: 10_300 })
    const vapi = startFakeVapi({ acceptAll: true, chaos: 0.3 })
    // SMTP is down when the first emails are due, and comes back on the same port.
    let smtp = await startSmtp()
    const port = smtp.port
    const received = smtp.received()
    await smtp.stop()
    cleanups.push(
      () => twilio.stop(),
      () => vapi.stop()
    )
    const { databaseUrl, count, convertAll } = await setUp(twilio)
    const env = workerEnv(databaseUrl, twilio, {
      SMTP_URL: `smtp://numbers:smtp-test-password@127.0.0.1:${port}`,
      ...vapi.env
    })
    const workers = Array.from({ length: WORKERS }, () => spawnService(env))
    cleanups.push(() => Promise.all(workers.map((w) => w.kill("SIGKILL"))).then(() => undefined))
    const started = Date.now()
    await convertAll(n)
    await Bun.sleep(15_000)
    smtp = await startSmtp({ port, received })
    cleanups.push(() => smtp.stop())
    await settled(count, smtp, n, 400_000)
    await Bun.sleep(2_000)
    const emails = emailsPerBusiness(smtp)
    const figures = {
      businesses: n,
      twilioRequests: twilio.requests().length,
      purchases: twilio.purchases().length,
      numbers: await count("SELECT count(*)::int AS n FROM phone_numbers"),
      emails: emails.total,
      vapiServersSet: [...vapi.assistants.values()].filter((a) => a.server !== null).length,
      seconds: (Date.now() - started) / 1000
    }
    reportFigures("provider chaos", figures)
    expect(figures.purchases).toBe(n)
    expect(figures.numbers).toBe(n)
    expect(emails).toEqual({ total: n, distinct: n, distinctMessageIds: n })
    expect(figures.vapiServersSet).toBe(n)
  })
})
