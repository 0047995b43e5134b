// `bun run bench`: every benchmark, one process each (so one cannot warm or slow the next), then a summary of
// bench/results/*.json. Needs a Postgres server (DATABASE_URL, else an embedded one), pgbench and wrk.
import { readFileSync } from "node:fs"
import { join } from "node:path"

const runs: ReadonlyArray<{ readonly file: string; readonly env?: Record<string, string> }> = [
  { file: "bench/pipeline.ts" },
  { file: "bench/pipeline.ts", env: { PROVIDER_LATENCY: "1" } },
  { file: "bench/http.ts" },
  { file: "bench/sockets.ts" },
  { file: "bench/start.ts" },
  { file: "bench/tracing.ts" },
  // One trace in ten exported, as an operator would sample a busy service (OpenTelemetry's variables).
  {
    file: "bench/tracing.ts",
    env: { OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.1" }
  }
]

for (const run of runs) {
  console.log(`\n== ${run.file} ${JSON.stringify(run.env ?? {})}`)
  const child = Bun.spawnSync(["bun", run.file], {
    env: { ...process.env, ...run.env },
    stdout: "inherit",
    stderr: "inherit"
  })
  if (child.exitCode !== 0) process.exit(child.exitCode ?? 1)
}

console.log("\n== results (bench/results/*.json)")
for (const name of [
  "pipeline",
  "provider-latency",
  "http",
  "sockets",
  "start-and-memory",
  "tracing",
  "tracing-sampled"
]) {
  console.log(name, readFileSync(join(import.meta.dirname, "results", `${name}.json`), "utf8"))
}
await import("./targets.ts")
