// Postgres restarted in the middle of a run: the service recovers by itself (pool, LISTEN, worker) and loses
// nothing. The service runs as its own process on an embedded PostgreSQL that the test stops and starts.
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Redacted } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { startEmbeddedPostgres } from "../../src/adapters/postgres/EmbeddedPostgres.ts"
import { signToken } from "../../src/app/http/auth.ts"
import { PUBLIC_APP_URL, startFakeTwilio } from "../support/fakeTwilio.ts"
import { reportFigures } from "../support/figures.ts"
import { eventually, freePort, type ServiceProcess, spawnService, untilReady } from "../support/processes.ts"
import { SECRETS } from "../support/processStack.ts"

const N = Number(process.env.RELIABILITY_RESTART_BUSINESSES ?? 100)

describe("a database restart mid-run", () => {
  const dir = mkdtempSync(join(tmpdir(), "numbers-restart-"))
  chmodSync(dir, 0o755)
  const twilio = startFakeTwilio({ defaultStock: N * 2, purchaseMillis: 20 })
  const services: Array<ServiceProcess> = []
  let stopDatabase = async () => {}
  afterAll(async () => {
    await Promise.all(services.map((s) => s.kill("SIGKILL")))
    await stopDatabase()
    twilio.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it(`${N} conversions across a Postgres restart: all assigned once, events still delivered`, async () => {
    const pgPort = freePort()
    let database = await startEmbeddedPostgres({ dataDir: join(dir, "pg"), port: pgPort })
    stopDatabase = database.stop
    const port = freePort()
    const base = `http://127.0.0.1:${port}`
    services.push(
      spawnService({
        ROLE: "all",
        PORT: String(port),
        // Real-looking Twilio credentials need a public https APP_URL; requests still go to `base`.
        APP_URL: PUBLIC_APP_URL,
        DATABASE_URL: database.url,
        ...twilio.env,
        ...SECRETS,
        JOB_RETRY_DELAY_SECONDS: "1",
        JOB_HEARTBEAT_SECONDS: "10"
      })
    )
    await untilReady(base)
    const token = await Effect.runPromise(signToken(Redacted.make(SECRETS.AUTH_SECRET), { role: "service" }))
    const api = async (method: string, path: string, body?: unknown) => {
      for (;;) {
        const response = await fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: body === undefined ? null : JSON.stringify(body)
        }).catch(() => null)
        // While the database is down the API answers 503 (try again): a client retries.
        if (response && response.status !== 503)
          return (await response.json()) as Record<
            string,
            { id: string; numberStatus: string; ownerId: string }
          >
        await Bun.sleep(200)
      }
    }
    const convert = async (i: number) => {
      const trial = await api("POST", "/api/trials", {
        ownerEmail: `restart-${i}@example.com`,
        ownerName: "Restart",
        businessName: `Restart ${i}`,
        vapiAssistantId: `restart-${i}`,
        requestedAreaCode: "415"
      })
      return (await api("POST", `/api/trials/${trial.trial?.id}/convert`)).business?.id ?? ""
    }
    const ids: Array<string> = []
    for (let i = 0; i < N / 2; i++) ids.push(await convert(i))

    await database.stop()
    const downAt = Date.now()
    await Bun.sleep(3_000)
    expect((await fetch(`${base}/ready`)).status).toBe(503)
    database = await startEmbeddedPostgres({ dataDir: join(dir, "pg"), port: pgPort })
    stopDatabase = database.stop
    await untilReady(base)
    const recoveredMillis = Date.now() - downAt

    // After the restart, an owner watching a new business still hears its number: LISTEN comes back by
    // itself (within its 5 s backoff cap; events published during that window are missed, and the
    // dashboard refreshes its state to cover them).
    await Bun.sleep(6_000)
    const lastTrial = await api("POST", "/api/trials", {
      ownerEmail: "restart-watch@example.com",
      ownerName: "Watcher",
      businessName: "Watched",
      vapiAssistantId: "restart-watch",
      requestedAreaCode: "415"
    })
    const owner = await Effect.runPromise(
      signToken(Redacted.make(SECRETS.AUTH_SECRET), { role: "owner", sub: lastTrial.trial?.ownerId ?? "" })
    )
    for (let i = N / 2; i < N; i++) ids.push(await convert(i))
    const watched = (await api("POST", `/api/trials/${lastTrial.trial?.id}/convert`)).business?.id ?? ""
    const socket = new WebSocket(`ws://127.0.0.1:${port}/cable`)
    const seen: Array<unknown> = []
    const heard = new Promise<boolean>((resolve) => {
      socket.onmessage = ({ data }) => {
        const event = JSON.parse(String(data))
        seen.push(event)
        if (
          event.type === "number.assigned" ||
          (event.type === "subscribed" && event.numberStatus === "assigned")
        )
          resolve(true)
      }
      setTimeout(() => resolve(false), 30_000)
    })
    socket.onopen = () =>
      socket.send(JSON.stringify({ type: "subscribe", businessId: watched, token: owner }))
    const wasHeard = await heard
    if (!wasHeard) console.log(`socket saw: ${JSON.stringify(seen)}`)
    expect(wasHeard).toBe(true)
    socket.close()

    await eventually(
      async () => {
        const states = await Promise.all(ids.map((id) => api("GET", `/api/businesses/${id}`)))
        return states.every((s) => s.business?.numberStatus === "assigned")
      },
      "every business assigned",
      120_000
    )
    const purchases = twilio.purchases()
    reportFigures("database restart", {
      businesses: N + 1,
      purchases: purchases.length,
      downMillis: 3_000,
      readyAgainMillis: recoveredMillis
    })
    expect(purchases.length).toBe(N + 1)
    expect(new Set(purchases.map((p) => p.friendlyName)).size).toBe(N + 1)
  })
})
