// The service as separate OS processes (`bun src/app/entry/main.ts`), for tests that race or kill workers.
import { chmodSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "../..")

export interface ServiceProcess {
  readonly pid: number
  readonly exited: Promise<number>
  /** stdout and stderr, interleaved as they came. */
  readonly output: () => string
  /** stdout alone (log lines). */
  readonly stdout: () => string
  readonly kill: (signal: "SIGTERM" | "SIGKILL") => Promise<number>
}

export const spawnService = (env: Readonly<Record<string, string>>): ServiceProcess => {
  let output = ""
  let stdout = ""
  const dataDir = mkdtempSync(join(tmpdir(), "numbers-proc-"))
  chmodSync(dataDir, 0o755)
  const child = Bun.spawn(["bun", "src/app/entry/main.ts"], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      DATA_DIR: dataDir,
      NODE_ENV: "production",
      // Every role listens on PORT (a worker for /health, /ready and /metrics): a port of its own unless given.
      PORT: String(freePort()),
      ...env
    },
    stdout: "pipe",
    stderr: "pipe"
  })
  for (const stream of [child.stdout, child.stderr]) {
    void (async () => {
      const decoder = new TextDecoder()
      for await (const chunk of stream) {
        const text = decoder.decode(chunk, { stream: true })
        output += text
        if (stream === child.stdout) stdout += text
      }
    })()
  }
  return {
    pid: child.pid,
    exited: child.exited,
    output: () => output,
    stdout: () => stdout,
    kill: (signal) => {
      child.kill(signal)
      return child.exited
    }
  }
}

/** A free TCP port on loopback, from the OS. */
export const freePort = (): number => {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } })
  const { port } = server
  server.stop(true)
  return port
}

/** Polls `check` until it answers true (bounded: fails after `timeoutMillis`). */
export const eventually = async (check: () => Promise<boolean>, what: string, timeoutMillis = 60_000) => {
  const deadline = Date.now() + timeoutMillis
  while (Date.now() < deadline) {
    if (await check()) return
    await Bun.sleep(200)
  }
  throw new Error(`timed out after ${timeoutMillis} ms waiting for ${what}`)
}

/** Waits until the service at `base` answers /ready (bounded). */
export const untilReady = (base: string, timeoutMillis = 60_000) =>
  eventually(
    () =>
      fetch(`${base}/ready`)
        .then((r) => r.ok)
        .catch(() => false),
    `${base}/ready`,
    timeoutMillis
  )
