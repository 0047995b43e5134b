// Readiness on Postgres: the database answers within 2 s and every migration this code knows is applied.
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { Readiness } from "../../ports/Readiness.ts"
import { migrationsApplied } from "./migrations.ts"

export const layer = Layer.effect(
  Readiness,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const check = Effect.gen(function* () {
      yield* sql`SELECT 1`
      return yield* migrationsApplied
    }).pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.timeout("2 seconds"),
      Effect.catch(() => Effect.succeed(false))
    )
    return Readiness.of({ check })
  })
)
