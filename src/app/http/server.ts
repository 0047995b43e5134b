// The HTTP server: the Elysia app served on PORT for as long as the layer lives, relaying owner events to the
// sockets of this instance. A worker serves its small app (health, readiness, metrics) the same way.
import { Effect, Layer } from "effect"
import { AppConfig } from "../layers/AppConfig.ts"
import { makeApp, makeWorkerApp } from "./app.ts"
import { GOING_AWAY, GOING_AWAY_REASON, openSockets, relayEvents } from "./cable.ts"
import type { HttpServices } from "./services.ts"

const serve = (kind: "app" | "worker") =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const config = yield* AppConfig
      const context = yield* Effect.context<HttpServices>()
      const run = <A, E>(
        effect: Effect.Effect<A, E, HttpServices>,
        options?: { readonly signal?: AbortSignal }
      ) => Effect.runPromiseWith(context)(effect, options)
      const settings = {
        appUrl: config.appUrl,
        authSecret: config.authSecret,
        vapiWebhookSecret: config.vapiWebhookSecret,
        twilioAuthToken: config.twilioWebhookToken
      }
      if (kind === "worker") {
        yield* Effect.acquireRelease(
          Effect.sync(() => makeWorkerApp(run, settings).listen({ port: config.port, hostname: "0.0.0.0" })),
          (app) => Effect.promise(() => app.stop(true)).pipe(Effect.andThen(Effect.logInfo("http: stopped")))
        )
        yield* Effect.logInfo(`http: health, readiness and metrics on port ${config.port}`)
        return
      }
      const sockets = openSockets()
      const app = makeApp(run, settings, sockets)
      // The relay runs before the first socket can subscribe: the seam relies on it having seen every event.
      yield* relayEvents(sockets, (topic, payload) => void app.server?.publish(topic, payload)).pipe(
        Effect.forkScoped
      )
      yield* Effect.acquireRelease(
        Effect.sync(() => app.listen({ port: config.port, hostname: "0.0.0.0" })),
        // Owners' sockets are told why before the server goes: their dashboards reconnect elsewhere.
        (app) =>
          Effect.sync(() => sockets.closeAll(GOING_AWAY, GOING_AWAY_REASON)).pipe(
            Effect.andThen(Effect.promise(() => app.stop(true))),
            Effect.andThen(Effect.logInfo("http: stopped"))
          )
      )
      yield* Effect.logInfo(`http: listening on ${config.appUrl} (port ${config.port})`)
    })
  )

export const httpLayer = serve("app")

/** ROLE=worker: GET /health, /ready and /metrics only (anything else 404), on PORT. */
export const workerHttpLayer = serve("worker")
