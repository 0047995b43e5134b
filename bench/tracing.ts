// Benchmark 6: what exporting the spans costs. Each workload runs with tracing off (spans made, none exported: the
// service without OTEL_EXPORTER_OTLP_ENDPOINT) and on (every span exported over OTLP/HTTP to a receiver in this
// process, bench/otlpCounter.ts; http/protobuf, the service's default, or OTEL_EXPORTER_OTLP_PROTOCOL), interleaved
// off, on, off, on; the overhead is 1 - median(on) / median(off) of the throughput.
//   pipeline:   bench/pipeline.ts as its own process, BENCH_ASSIGNMENTS (500 here) on a fresh database each run
//   read route: GET /api/businesses/:id on two service processes (ROLE=all) sharing one database, one exporting;
//               wrk at its peak and at 2,000 requests/s, after a 2 s warm-up, BENCH_SECONDS (6) each
// A traced run that exported nothing is refused: it would measure no export. With OTEL_TRACES_SAMPLER (and
// OTEL_TRACES_SAMPLER_ARG) set, the traced runs sample as they say and the result is `tracing-sampled`.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { untilReady } from "../test/support/processes.ts"
import { CONNECTIONS, checked, READ_RATE, type Target, wrk } from "./load.ts"
import { exportedSince, type OtlpCounts, startOtlpCounter } from "./otlpCounter.ts"
import { convertedBusiness, startProviders, startService } from "./service.ts"
import { cpuMicros, createDatabase, report, serverUrl } from "./support.ts"

const ASSIGNMENTS = Number(process.env.BENCH_ASSIGNMENTS ?? 500)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6)
const TARGET = 0.1
const PROTOCOL = process.env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() || "http/protobuf"
if (PROTOCOL !== "http/protobuf" && PROTOCOL !== "http/json")
  throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL: expected http/protobuf or http/json, got ${PROTOCOL}`)
const ORDER = ["off", "on", "off", "on"] as const
/** The traced runs' sampler, when one is set: every span of every trace is exported otherwise. */
const SAMPLER = Object.fromEntries(
  (["OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"] as const).flatMap((name) =>
    process.env[name]?.trim() ? [[name, process.env[name]?.trim() ?? ""]] : []
  )
)
const SAMPLED = Object.keys(SAMPLER).length > 0
/** tracingLayer's export interval: a traced service's last spans leave within it, before the next run measures. */
const EXPORT_INTERVAL_MILLIS = 5_000

type Tracing = (typeof ORDER)[number]

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2
}
const round = (value: number, digits: number) => Number(value.toFixed(digits))

/** The off and on figures of the runs, their medians, and how much worse on is (`lower`: lower is better). */
const compare = <Run extends { readonly tracing: Tracing }>(
  runs: ReadonlyArray<Run>,
  figure: (run: Run) => number,
  lower = false
) => {
  const of = (tracing: Tracing) => runs.filter((run) => run.tracing === tracing).map(figure)
  const off = of("off")
  const on = of("on")
  const medianOff = median(off)
  const medianOn = median(on)
  return {
    off,
    on,
    medianOff: round(medianOff, 2),
    medianOn: round(medianOn, 2),
    // Throughput: the share lost (1 - on/off). Latency: the share added (on/off - 1).
    overheadRatio: round(lower ? medianOn / medianOff - 1 : 1 - medianOn / medianOff, 3)
  }
}

/** Refuses a traced run that exported nothing, and an untraced one that exported anything. */
const checkExport = (what: string, tracing: Tracing, exported: OtlpCounts) => {
  if (tracing === "on" && (exported.requests === 0 || exported.spans === 0))
    throw new Error(`${what}: traced, but no span reached the receiver; not a measurement of export`)
  if (tracing === "off" && exported.requests > 0)
    throw new Error(`${what}: not traced, but ${exported.requests} export requests reached the receiver`)
}

const counter = startOtlpCounter()
const server = await serverUrl()

const pipelineRun = async (tracing: Tracing) => {
  const name = `tracing-pipeline-${tracing}`
  const before = counter.counts()
  // Asynchronous: the receiver is served by this process while the run exports to it.
  const child = Bun.spawn(["bun", join(import.meta.dirname, "pipeline.ts")], {
    env: {
      ...process.env,
      DATABASE_URL: server.url,
      BENCH_ASSIGNMENTS: String(ASSIGNMENTS),
      BENCH_BASELINES: "0",
      BENCH_RESULT: name,
      PROVIDER_LATENCY: "",
      OTEL_EXPORTER_OTLP_ENDPOINT: tracing === "on" ? counter.url : "",
      OTEL_EXPORTER_OTLP_PROTOCOL: PROTOCOL
    },
    stdout: "pipe",
    stderr: "pipe"
  })
  const [out, err, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited
  ])
  if (exitCode !== 0) throw new Error(`bench/pipeline.ts (tracing ${tracing}) failed:\n${out}${err}`)
  // The run released its tracer (flushing what it held) before it exited: everything it exported is in.
  const exported = exportedSince(before, counter.counts())
  checkExport(`pipeline (tracing ${tracing})`, tracing, exported)
  const result = JSON.parse(readFileSync(join(import.meta.dirname, "results", `${name}.json`), "utf8")) as {
    readonly tracesExported: false | typeof PROTOCOL
    readonly assignmentsPerSecond: number
    readonly seconds: number
    readonly processCpuShare: number
    readonly p99Millis: number
  }
  if (result.tracesExported !== (tracing === "on" ? PROTOCOL : false))
    throw new Error(`bench/pipeline.ts: tracing ${tracing}, but tracesExported is ${result.tracesExported}`)
  return {
    tracing,
    assignmentsPerSecond: result.assignmentsPerSecond,
    seconds: result.seconds,
    processCpuShare: result.processCpuShare,
    p99Millis: result.p99Millis,
    exported,
    // Trial creation's spans included.
    spansPerAssignment: round(exported.spans / ASSIGNMENTS, 1)
  }
}

const measurePipeline = async () => {
  const runs = []
  for (const tracing of ORDER) {
    const run = await pipelineRun(tracing)
    console.log(`pipeline, tracing ${tracing}:`, JSON.stringify(run))
    runs.push(run)
  }
  const throughput = compare(runs, (run) => run.assignmentsPerSecond)
  return {
    assignments: ASSIGNMENTS,
    runs,
    assignmentsPerSecond: throughput,
    target: TARGET,
    met: throughput.overheadRatio <= TARGET
  }
}

const measureReadRoute = async () => {
  const database = await createDatabase(server.url)
  const providers = startProviders()
  const off = startService(database.url, providers)
  let on: ReturnType<typeof startService> | undefined
  try {
    // One after the other: the second starts on a database the first has migrated.
    await untilReady(off.base)
    on = startService(database.url, providers, {
      OTEL_EXPORTER_OTLP_ENDPOINT: counter.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: PROTOCOL,
      ...SAMPLER
    })
    await untilReady(on.base)
    return await readRoute(off, on)
  } finally {
    await Promise.all([off.process.kill("SIGTERM"), on?.process.kill("SIGTERM")])
    providers.stop()
    await database.drop()
  }
}

const readRoute = async (off: ReturnType<typeof startService>, on: ReturnType<typeof startService>) => {
  const { businessId, ownerToken } = await convertedBusiness(off.base, off.process)
  const target = (base: string): Target => ({
    url: `${base}/api/businesses/${businessId}`,
    headers: { authorization: `Bearer ${ownerToken}` }
  })
  const runs = []
  for (const tracing of ORDER) {
    const service = tracing === "on" ? on : off
    const what = `GET /api/businesses/:id (tracing ${tracing})`
    const before = counter.counts()
    const warm = checked(what, await wrk(target(service.base), { seconds: 2, connections: CONNECTIONS }))
    // CPU at the peak: the service's, and this process's (the receiver's: wrk is a process of its own).
    const serviceCpuBefore = cpuMicros(service.process.pid)
    const receiverCpuBefore = process.cpuUsage()
    const peak = checked(
      what,
      await wrk(target(service.base), { seconds: SECONDS, connections: CONNECTIONS })
    )
    const serviceCpu = cpuMicros(service.process.pid) - serviceCpuBefore
    const receiverCpu = process.cpuUsage(receiverCpuBefore)
    const paced = checked(
      `${what} at ${READ_RATE}/s`,
      await wrk(target(service.base), { rate: READ_RATE, seconds: SECONDS, connections: CONNECTIONS })
    )
    if (tracing === "on") await Bun.sleep(EXPORT_INTERVAL_MILLIS + 1_000)
    const exported = exportedSince(before, counter.counts())
    if (tracing === "on") checkExport(what, tracing, exported)
    const requests = warm.requests + peak.requests + paced.requests
    const run = {
      tracing,
      requestsPerSecond: Math.round(peak.requestsPerSecond),
      p99AtPeakMillis: peak.p99Millis,
      serviceCpuMicrosPerRequest: round(serviceCpu / peak.requests, 1),
      receiverCpuMicrosPerRequest: round((receiverCpu.user + receiverCpu.system) / peak.requests, 1),
      achievedRate: Math.round(paced.requestsPerSecond),
      p50AtRateMillis: paced.p50Millis,
      p99AtRateMillis: paced.p99Millis,
      // The traced service's, whichever run (idle during an untraced one).
      exported,
      ...(tracing === "on" ? { spansPerRequest: round(exported.spans / requests, 2) } : {})
    }
    console.log(`GET /api/businesses/:id, tracing ${tracing}:`, JSON.stringify(run))
    runs.push(run)
  }
  const throughput = compare(runs, (run) => run.requestsPerSecond)
  const p99AtRate = compare(runs, (run) => run.p99AtRateMillis, true)
  const serviceCpu = compare(runs, (run) => run.serviceCpuMicrosPerRequest, true)
  // No overhead ratio: untraced, the receiver has nothing to do, and a ratio to about zero says nothing.
  const { overheadRatio: _, ...receiverCpu } = compare(runs, (run) => run.receiverCpuMicrosPerRequest, true)
  return {
    route: "GET /api/businesses/:id",
    secondsPerRun: SECONDS,
    connections: CONNECTIONS,
    fixedRate: READ_RATE,
    runs,
    requestsPerSecond: throughput,
    p99AtRateMillis: p99AtRate,
    serviceCpuMicrosPerRequest: serviceCpu,
    receiverCpuMicrosPerRequest: receiverCpu,
    target: TARGET,
    met: throughput.overheadRatio <= TARGET
  }
}

const measured = async () => {
  try {
    return { pipeline: await measurePipeline(), read: await measureReadRoute() }
  } finally {
    counter.stop()
    await server.stop()
  }
}
const { pipeline, read } = await measured()

const result = {
  // The service's default protocol has the benchmark's name; another is reported next to it.
  benchmark: `${PROTOCOL === "http/protobuf" ? "tracing" : "tracing-http-json"}${SAMPLED ? "-sampled" : ""}`,
  protocol: PROTOCOL,
  sampler: SAMPLED ? SAMPLER : "every trace (parentbased_always_on)",
  order: ORDER,
  target: TARGET,
  pipeline,
  readRoute: read
}
const row = (
  workload: string,
  figure: string,
  figures: ReturnType<typeof compare>,
  met: boolean | undefined
) => ({
  workload,
  figure,
  off: figures.off.join(", "),
  on: figures.on.join(", "),
  medianOff: figures.medianOff,
  medianOn: figures.medianOn,
  overhead: figures.overheadRatio,
  target: met === undefined ? "" : `<= ${TARGET}`,
  met: met ?? ""
})
await report(result, [
  row("pipeline", "assignments/s", pipeline.assignmentsPerSecond, pipeline.met),
  row("GET /api/businesses/:id", "requests/s", read.requestsPerSecond, read.met),
  row("GET /api/businesses/:id", `p99 ms at ${READ_RATE}/s`, read.p99AtRateMillis, undefined),
  row("GET /api/businesses/:id", "service CPU us/request", read.serviceCpuMicrosPerRequest, undefined),
  {
    ...row(
      "GET /api/businesses/:id",
      "receiver CPU us/request",
      { ...read.receiverCpuMicrosPerRequest, overheadRatio: 0 },
      undefined
    ),
    overhead: ""
  }
])
process.exit(0)
