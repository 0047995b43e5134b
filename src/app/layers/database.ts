// Where the database comes from: DATABASE_URL, or an embedded PostgreSQL under the data directory.
import { join } from "node:path"
import { Effect, Layer, Option, Redacted } from "effect"
import * as Database from "../../adapters/postgres/Database.ts"
import { DatabaseUrl } from "../../adapters/postgres/Database.ts"
import { startEmbeddedPostgres } from "../../adapters/postgres/EmbeddedPostgres.ts"
import { AppConfig } from "./AppConfig.ts"

/** Started with the service and stopped last (layers release in reverse order of acquisition). */
const embeddedDatabaseUrl = (dataDir: string) =>
  Layer.effect(
    DatabaseUrl,
    Effect.acquireRelease(
      Effect.tryPromise(() => startEmbeddedPostgres({ dataDir })).pipe(
        Effect.tap(() => Effect.logInfo(`embedded PostgreSQL started (data in ${dataDir})`)),
        Effect.orDie
      ),
      (server) =>
        Effect.promise(() => server.stop()).pipe(
          Effect.andThen(Effect.logInfo("embedded PostgreSQL stopped"))
        )
    ).pipe(Effect.map((server) => Redacted.make(server.url)))
  )

const databaseUrlLayer = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    return Option.match(config.databaseUrl, {
      onSome: (url) => Layer.succeed(DatabaseUrl, url),
      onNone: () => embeddedDatabaseUrl(join(config.dataDir, "pg"))
    })
  })
)

/**
 * The migrated pool; big enough for every worker to hold a business lock and still notify and serve, and for the
 * job queue's fetch loop (one round at a time) and its LISTEN connection.
 */
export const databaseLayer = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    return Database.layer({
      maxConnections: config.workerConcurrency + 10,
      applicationName: `numbers-${config.role}`
    })
  })
).pipe(Layer.provideMerge(databaseUrlLayer))
