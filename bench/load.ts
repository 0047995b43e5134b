// The HTTP benchmark's load: wrk (Debian's package) as a separate process on loopback, either as fast as the
// route answers or paced to a fixed rate by a request schedule in its Lua script (wrk has no rate option).
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** The HTTP benchmarks' load: wrk's open connections, and the fixed rates the latency targets are set at. */
export const CONNECTIONS = 64
export const READ_RATE = 2_000
export const WRITE_RATE = 1_000

export interface Target {
  readonly url: string
  readonly method?: "GET" | "POST"
  readonly headers?: Readonly<Record<string, string>>
  /** `[<id>]` in the body is replaced by a fresh id on every request (a new call each time). */
  readonly body?: string
  /** Paths (with their query) taken in turn, one a request, instead of the URL's own (many businesses). */
  readonly paths?: ReadonlyArray<string>
}

export interface LoadResult {
  readonly requestsPerSecond: number
  readonly p50Millis: number
  readonly p99Millis: number
  readonly requests: number
  /** Answers other than 2xx, plus socket errors and timeouts: a benchmark with any is refused. */
  readonly failures: number
}

const scripts = mkdtempSync(join(tmpdir(), "numbers-bench-wrk-"))
const lua = (value: string) => JSON.stringify(value) // a JSON string is a valid Lua string literal here

/**
 * Paces requests to `rate` per second: each `delay()` call (before a connection's next request) books the
 * next slot of one schedule, so the rate holds whatever the latency, as long as a connection is free.
 */
const pacing = (rate: number) => `
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } numbers_timespec;
int clock_gettime(int clk_id, numbers_timespec *tp);
]]
local ts = ffi.new("numbers_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval = 1000 / ${rate}
local next_at = nil
delay = function()
  local now = now_ms()
  if next_at == nil then next_at = now end
  next_at = next_at + interval
  local wait = next_at - now
  if wait < 0 then return 0 end
  return wait
end
`

/** wrk's request script: method, headers, a body whose `[<id>]` is unique per request, and any pacing. */
const wrkScript = (target: Target, rate: number | undefined) => {
  const file = join(scripts, `${crypto.randomUUID()}.lua`)
  const headers = Object.entries(target.headers ?? {})
    .map(([k, v]) => `wrk.headers[${lua(k)}] = ${lua(v)}`)
    .join("\n")
  const [before, after] = (target.body ?? "").split("[<id>]")
  const paths = target.paths ?? []
  writeFileSync(
    file,
    `wrk.method = ${lua(target.method ?? "GET")}
${headers}
local n = 0
local prefix = tostring(math.random(1, 1000000000))
local paths = { ${paths.map(lua).join(", ")} }
request = function()
  n = n + 1
  local path = nil
  if #paths > 0 then path = paths[(n % #paths) + 1] end
  ${
    after === undefined
      ? `return wrk.format(nil, path, nil, ${target.body === undefined ? "nil" : lua(before ?? "")})`
      : `return wrk.format(nil, path, nil, ${lua(before ?? "")} .. prefix .. "-" .. n .. ${lua(after)})`
  }
end
${rate === undefined ? "" : pacing(rate)}`
  )
  return file
}

/** wrk's figure in milliseconds, to the microsecond it prints (690.00us is 0.69, not 0.6900000000000001). */
const millis = (value: string, unit: string) =>
  Number(
    (Number(value) * (unit === "us" ? 0.001 : unit === "ms" ? 1 : unit === "s" ? 1000 : Number.NaN)).toFixed(
      3
    )
  )

/**
 * wrk, one thread, `connections` open: as many requests per second as `target` answers, or `rate` per second.
 * Asynchronous, so that fakes served by this process (Vapi's) keep answering while it runs.
 */
export const wrk = async (
  target: Target,
  options: { readonly seconds: number; readonly connections: number; readonly rate?: number }
): Promise<LoadResult> => {
  const run = Bun.spawn(
    [
      "wrk",
      "-t1",
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      "--latency",
      "-s",
      wrkScript(target, options.rate),
      target.url
    ],
    { stdout: "pipe", stderr: "pipe" }
  )
  const [out, err, exitCode] = await Promise.all([
    new Response(run.stdout).text(),
    new Response(run.stderr).text(),
    run.exited
  ])
  if (exitCode !== 0) throw new Error(`wrk failed: ${out}${err}`)
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(out)
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out)
  const total = /(\d+) requests in/.exec(out)
  if (!rate?.[1] || !p50?.[1] || !p50[2] || !p99?.[1] || !p99[2] || !total?.[1])
    throw new Error(`unreadable wrk output: ${out}`)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const errors = socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0
  return {
    requestsPerSecond: Number(rate[1]),
    p50Millis: millis(p50[1], p50[2]),
    p99Millis: millis(p99[1], p99[2]),
    requests: Number(total[1]),
    failures: non2xx + errors
  } satisfies LoadResult
}

/** Refuses a measurement that counted failed requests: their speed says nothing about the route. */
export const checked = (what: string, result: LoadResult) => {
  if (result.requests === 0) throw new Error(`${what}: no request was answered; not a measurement`)
  if (result.failures > 0)
    throw new Error(`${what}: ${result.failures} of ${result.requests} requests failed; not a measurement`)
  return result
}
