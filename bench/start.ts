// Benchmark 5: `bun start` (embedded PostgreSQL, sandbox providers) cold and warm to /ready, and the service
// process's RSS idle and after 1000 conversions through its API: the moment the last is assigned, then each
// second for 30 s after the last owner's email is written, and its peak (VmHWM), which is what a memory limit
// meets. What the process keeps is the RSS at the end of those 30 s: the runtime gives the burst's garbage back
// when its collector's timer fires, 3 s after the burst on a quiet machine and later than 5 s on a busy one
// (docs/BENCHMARKS.md, section 9); the figure at 5 s is reported too. The baseline: a bare Bun process serving /ready, started the same way in the
// same run.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Effect, Redacted } from "effect"
import { signToken } from "../src/app/http/auth.ts"
import { freePort } from "../test/support/processes.ts"
import { percentile, report } from "./support.ts"

const root = resolve(import.meta.dirname, "..")
const N = Number(process.env.BENCH_ASSIGNMENTS ?? 1000)
const AUTH_SECRET = "bench-auth-secret"
/** How long the RSS is followed after the last email. */
const SETTLE_SECONDS = 30

const statusMb = (pid: number, field: "VmRSS" | "VmHWM") => {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return Number(match?.[1] ?? 0) / 1024
}
const rssMb = (pid: number) => statusMb(pid, "VmRSS")
const untilReady = async (port: number, started: number) => {
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/ready`)
      .then((r) => r.ok)
      .catch(() => false)
    if (ok) return performance.now() - started
    if (performance.now() - started > 60_000) throw new Error("not ready after 60 s")
    await Bun.sleep(10)
  }
}

/** Every process this benchmark starts: whatever fails, none outlives it (nor its embedded Postgres). */
const children: Array<ReturnType<typeof Bun.spawn>> = []

const startService = async (dataDir: string) => {
  const port = freePort()
  const started = performance.now()
  const child = Bun.spawn(["bun", "src/app/entry/main.ts"], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      PORT: String(port),
      DATA_DIR: dataDir,
      AUTH_SECRET,
      NODE_ENV: "production"
    },
    stdout: "ignore",
    stderr: "ignore"
  })
  children.push(child)
  const ms = await untilReady(port, started)
  return { child, port, ms }
}

/** The baseline: the least a Bun process answering /ready costs to start here. */
const bareBun = async () => {
  const port = freePort()
  const started = performance.now()
  const child = Bun.spawn(["bun", "-e", `Bun.serve({ port: ${port}, fetch: () => new Response("ok") })`], {
    stdout: "ignore",
    stderr: "ignore"
  })
  children.push(child)
  const ms = await untilReady(port, started)
  const rss = rssMb(child.pid)
  child.kill("SIGTERM")
  await child.exited
  return { ms, rss }
}

const dataDir = mkdtempSync(join(tmpdir(), "numbers-bench-start-"))
chmodSync(dataDir, 0o755)
/** The owners' emails the service has written so far (FileMailer: one .eml file each in DATA_DIR/outbox). */
const emailsWritten = () => {
  try {
    return readdirSync(join(dataDir, "outbox")).filter((name) => name.endsWith(".eml")).length
  } catch {
    return 0
  }
}
try {
  const bare = await bareBun()
  const cold = await startService(dataDir)
  cold.child.kill("SIGTERM")
  await cold.child.exited
  const warm = await startService(dataDir)
  await Bun.sleep(2_000)
  const idleRss = rssMb(warm.child.pid)

  const service = await Effect.runPromise(signToken(Redacted.make(AUTH_SECRET), { role: "service" }))
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`http://127.0.0.1:${warm.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${service}`, "content-type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body)
    }).then((r) => r.json() as Promise<Record<string, { id: string; numberStatus: string }>>)
  const businesses: Array<string> = []
  const started = performance.now()
  for (let i = 0; i < N; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, N - i) }, async (_, k) => {
        const trial = await api("POST", "/api/trials", {
          ownerEmail: `start-bench-${i + k}@example.com`,
          ownerName: "Bench",
          businessName: `Bench ${i + k}`,
          vapiAssistantId: `start-bench-${i + k}`,
          // Sandbox stock is 50 numbers per area code: spread the businesses over 30 codes (320-349).
          requestedAreaCode: String(320 + ((i + k) % 30))
        })
        const converted = await api("POST", `/api/trials/${trial.trial?.id}/convert`)
        if (!converted.business?.id)
          throw new Error(`conversion failed: ${JSON.stringify({ trial, converted })}`)
        return converted.business.id
      })
    )
    businesses.push(...batch)
  }
  const waits: Array<number> = []
  for (const id of businesses) {
    const t0 = performance.now()
    while ((await api("GET", `/api/businesses/${id}`)).business?.numberStatus !== "assigned") {
      if (performance.now() - t0 > 60_000) throw new Error(`business ${id} not assigned after 60 s`)
      await Bun.sleep(20)
    }
    waits.push(performance.now() - t0)
  }
  const throughSeconds = (performance.now() - started) / 1000
  const afterRss = rssMb(warm.child.pid)
  // A conversion's work ends with its owner's email (a job after the assignment): what the process keeps is
  // read once every email is written (FileMailer's outbox), each second for SETTLE_SECONDS.
  const emailsWaitingAtAssigned = N - emailsWritten()
  const emailsFrom = performance.now()
  while (emailsWritten() < N) {
    if (performance.now() - emailsFrom > 120_000)
      throw new Error(`${N - emailsWritten()} emails not written after 120 s`)
    await Bun.sleep(100)
  }
  const emailsSeconds = (performance.now() - emailsFrom) / 1000
  const rssEachSecond: Array<number> = []
  for (let second = 1; second <= SETTLE_SECONDS; second++) {
    await Bun.sleep(1_000)
    rssEachSecond.push(Number(rssMb(warm.child.pid).toFixed(1)))
  }
  const settledRss = rssEachSecond.at(-1) ?? 0
  const peakRss = statusMb(warm.child.pid, "VmHWM")
  warm.child.kill("SIGTERM")
  await warm.child.exited

  const result = {
    benchmark: "start-and-memory",
    bareBunStartMillis: Math.round(bare.ms),
    coldStartMillis: Math.round(cold.ms),
    warmStartMillis: Math.round(warm.ms),
    warmToBareRatio: Number((warm.ms / bare.ms).toFixed(1)),
    bareBunRssMb: Number(bare.rss.toFixed(1)),
    idleRssMb: Number(idleRss.toFixed(1)),
    conversionsThroughApi: N,
    conversionsSeconds: Number(throughSeconds.toFixed(1)),
    rssAfterConversionsMb: Number(afterRss.toFixed(1)),
    emailsWaitingAtAssigned,
    emailsDoneSecondsAfterAssigned: Number(emailsSeconds.toFixed(1)),
    rss5sAfterMb: rssEachSecond[4] ?? 0,
    rssSettledMb: settledRss,
    rssEachSecondAfterMb: rssEachSecond,
    rssPeakMb: Number(peakRss.toFixed(1)),
    p99WaitAfterConvertedMillis: Math.round(percentile(waits, 99))
  }
  await report(result)
} finally {
  for (const child of children) {
    child.kill("SIGTERM")
    await child.exited
  }
  rmSync(dataDir, { recursive: true, force: true })
}
process.exit(0)
