// Liveness and readiness. Ready means the database answers and every migration is applied.
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { Elysia } from "elysia"
import { migrationsApplied } from "../../adapters/postgres/migrations.ts"
import type { Run } from "./run.ts"

export const readiness = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SELECT 1`
  return yield* migrationsApplied
}).pipe(
  Effect.timeout("2 seconds"),
  Effect.catch(() => Effect.succeed(false))
)

export const healthRoutes = (run: Run<SqlClient.SqlClient>) =>
  new Elysia({ name: "health" })
    .get("/health", () => ({ status: "ok" }))
    .get("/ready", async ({ set }) => {
      const ready = await run(readiness)
      set.status = ready ? 200 : 503
      return { ready }
    })
