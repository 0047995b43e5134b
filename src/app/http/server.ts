// The HTTP server: the Elysia app served on PORT for as long as the layer lives.
import { Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql"
import { Elysia } from "elysia"
import { AppConfig } from "../AppConfig.ts"
import { healthRoutes } from "./health.ts"
import type { Run } from "./run.ts"

export const makeApp = (run: Run<SqlClient.SqlClient>) => new Elysia().use(healthRoutes(run))

export const httpLayer = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const context = yield* Effect.context<SqlClient.SqlClient>()
    const run: Run<SqlClient.SqlClient> = (effect, options) => Effect.runPromiseWith(context)(effect, options)
    const app = makeApp(run)
    yield* Effect.acquireRelease(
      Effect.sync(() => app.listen({ port: config.port, hostname: "0.0.0.0" })),
      (app) => Effect.promise(() => app.stop(true)).pipe(Effect.andThen(Effect.logInfo("http: stopped")))
    )
    yield* Effect.logInfo(`http: listening on ${config.appUrl} (port ${config.port})`)
  })
)
