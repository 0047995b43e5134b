// vitest globalSetup: one Postgres server for the whole run. DATABASE_URL when set (CI sets it to the
// machine's server); else an embedded PostgreSQL in a temporary directory, so tests need no installed server.
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TestProject } from "vitest/node"
import { startEmbeddedPostgres } from "../../src/adapters/postgres/EmbeddedPostgres.ts"

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string
  }
}

export default async function setup(project: TestProject) {
  const configured = process.env.DATABASE_URL
  if (configured) {
    project.provide("databaseUrl", configured)
    return
  }
  const dir = mkdtempSync(join(tmpdir(), "numbers-test-pg-"))
  // Postgres runs as its own user when we are root: it must be able to enter the directory.
  chmodSync(dir, 0o755)
  const server = await startEmbeddedPostgres({ dataDir: join(dir, "data") })
  console.log(`tests: embedded PostgreSQL at ${server.url.replace(/:[^:@]*@/, ":***@")}`)
  project.provide("databaseUrl", server.url)
  return async () => {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
