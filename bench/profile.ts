// `bun bench/profile.ts [get|twilio|vapi] [seconds]`: the service under wrk on one hot route, with Bun's CPU
// profiler on, then where its time went (self time by package, native frames charged to their JavaScript caller,
// and by function), the CPU a request costs in the service and in Postgres (from /proc), and the commits and
// table scans a request makes (pg_stat_database, pg_stat_user_tables: pg_stat_statements is not assumed).
// PROFILE=0: the same without the profiler; WEB_ONLY=1: the load on a ROLE=web process beside the ROLE=all one;
// WRITE_BUSINESSES (100): how many businesses the write is spread over; SERVICE_ENV: JSON, more environment.
// What docs/BENCHMARKS.md's profile section is read from; not part of `bun run bench`.
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { untilReady } from "../test/support/processes.ts"
import { profileOf, splitProfile } from "./cpuProfile.ts"
import { CONNECTIONS, type Target, wrk } from "./load.ts"
import {
  convertedBusiness,
  convertedBusinesses,
  hotRouteTargets,
  startProviders,
  startService,
  untilJobsDrained
} from "./service.ts"
import { cpuMicros, createDatabase, serverUrl } from "./support.ts"

/** How long after the load every backend, idle by then, has reported its statistics (10 s, and a margin). */
const STATS_SETTLE_MILLIS = 11_000

const which = process.argv[2] ?? "get"
const seconds = Number(process.argv[3] ?? 10)
const server = await serverUrl()
const database = await createDatabase(server.url)
const providers = startProviders()
const profiles = mkdtempSync(join(tmpdir(), "numbers-profile-"))
// PROFILE=0: the same load without the profiler, for the request rate alone.
const profiling = process.env.PROFILE !== "0"
const serviceEnv = {
  ...(profiling ? { BUN_OPTIONS: `--cpu-prof --cpu-prof-dir=${profiles}` } : {}),
  ...JSON.parse(process.env.SERVICE_ENV ?? "{}")
}
const { base: allInOne, process: service0 } = startService(database.url, providers, serviceEnv)

/** Every Postgres backend's CPU: the server's processes are the ones named postgres. */
const postgresCpuMicros = () =>
  readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .reduce((sum, pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres"
          ? sum + cpuMicros(Number(pid))
          : sum
      } catch {
        return sum
      }
    }, 0)

const stats = async () => {
  const { SQL } = await import("bun")
  const sql = new SQL({ url: database.url, max: 1 })
  const [row] =
    await sql`SELECT xact_commit::int AS commits FROM pg_stat_database WHERE datname = current_database()`
  // Reads and writes by table: which statements a request makes (pg_stat_statements is not assumed).
  const tables = await sql`
    SELECT schemaname || '.' || relname AS name, (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::int AS scans,
           (n_tup_ins + n_tup_upd + n_tup_del)::int AS writes
    FROM pg_stat_user_tables`
  await sql.close()
  return {
    commits: (row as { commits: number }).commits,
    tables: new Map(
      (tables as ReadonlyArray<{ name: string; scans: number; writes: number }>).map((t) => [t.name, t])
    )
  }
}

/** The process that took the load: its profile is the one read below (the other's holds the setup's work). */
let loadedPid = 0
try {
  await untilReady(allInOne)
  const converted = await convertedBusiness(allInOne, service0)
  const { businessId, ownerToken, e164 } = converted
  // The write's status updates are spread over WRITE_BUSINESSES businesses (1: all on one stream).
  const writeBusinesses = await convertedBusinesses(
    allInOne,
    service0,
    Number(process.env.WRITE_BUSINESSES ?? 100) - 1
  )
  await untilJobsDrained(database.url)
  // ROLE=web: the load goes to a web-only process on the same database (the worker's polling kept apart).
  const web =
    process.env.WEB_ONLY === "1"
      ? startService(database.url, providers, { ROLE: "web", ...serviceEnv })
      : undefined
  if (web) await untilReady(web.base)
  const base = web?.base ?? allInOne
  const service = web?.process ?? service0
  loadedPid = service.pid
  const targets: Record<string, Target> = hotRouteTargets(
    base,
    { businessId, ownerToken, e164 },
    [converted, ...writeBusinesses].map((b) => b.businessId),
    providers.twilio.authToken
  )
  const target = targets[which]
  if (!target) throw new Error(`no such route: ${which} (get, twilio, vapi)`)
  await wrk(target, { seconds: 2, connections: CONNECTIONS })
  // An idle backend reports its statistics to pg_stat_* within PGSTAT_IDLE_INTERVAL (10 s) at the latest
  // (bench/support.ts, commitsOnceClosed): the warm-up's are all in after this.
  await Bun.sleep(STATS_SETTLE_MILLIS)
  const idleFrom = cpuMicros(service.pid)
  await Bun.sleep(3_000)
  console.log(
    `idle: service ${Math.round((cpuMicros(service.pid) - idleFrom) / 3_000)} us of CPU a millisecond`
  )
  const before = await stats()
  const [serviceBefore, postgresBefore] = [cpuMicros(service.pid), postgresCpuMicros()]
  const load = await wrk(target, { seconds, connections: CONNECTIONS })
  const [serviceAfter, postgresAfter] = [cpuMicros(service.pid), postgresCpuMicros()]
  await Bun.sleep(STATS_SETTLE_MILLIS)
  const after = await stats()
  console.log(
    `${which}: ${Math.round(load.requestsPerSecond)} req/s, p99 ${load.p99Millis} ms, ${load.failures} failures;`,
    `commits/request ${((after.commits - before.commits) / load.requests).toFixed(2)};`,
    `CPU/request: service ${Math.round((serviceAfter - serviceBefore) / load.requests)} us,`,
    `Postgres ${Math.round((postgresAfter - postgresBefore) / load.requests)} us`
  )
  for (const [name, t] of after.tables) {
    const b = before.tables.get(name)
    const scans = (t.scans - (b?.scans ?? 0)) / load.requests
    const writes = (t.writes - (b?.writes ?? 0)) / load.requests
    if (scans > 0.01 || writes > 0.01)
      console.log(`  ${name}: ${scans.toFixed(2)} scans, ${writes.toFixed(2)} rows written per request`)
  }
  const lines = service.output().split("\n")
  console.log(`service output: ${lines.length} lines; last: ${lines.slice(-3).join(" | ").slice(0, 600)}`)
  await web?.process.kill("SIGTERM")
} finally {
  await service0.kill("SIGTERM")
  providers.stop()
  await database.drop()
  await server.stop()
}

if (!profiling) process.exit(0)

const file = profileOf(profiles, loadedPid)
const split = splitProfile(file)
console.log(`profile: ${file} (${split.samples} samples)`)
console.table(split.byPackage)
console.table(split.byFunction)
