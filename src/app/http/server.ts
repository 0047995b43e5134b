// The HTTP server: the Elysia app served on PORT for as long as the layer lives, relaying owner events to the
// sockets of this instance.
import { Effect, Layer } from "effect"
import { AppConfig } from "../layers/AppConfig.ts"
import { makeApp } from "./app.ts"
import { relayEvents } from "./cable.ts"
import type { HttpServices } from "./services.ts"

export const httpLayer = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const context = yield* Effect.context<HttpServices>()
    const run = <A, E>(
      effect: Effect.Effect<A, E, HttpServices>,
      options?: { readonly signal?: AbortSignal }
    ) => Effect.runPromiseWith(context)(effect, options)
    const app = makeApp(run, {
      appUrl: config.appUrl,
      authSecret: config.authSecret,
      vapiWebhookSecret: config.vapiWebhookSecret,
      twilioAuthToken: config.twilioWebhookToken
    })
    yield* Effect.acquireRelease(
      Effect.sync(() => app.listen({ port: config.port, hostname: "0.0.0.0" })),
      (app) => Effect.promise(() => app.stop(true)).pipe(Effect.andThen(Effect.logInfo("http: stopped")))
    )
    yield* relayEvents((topic, payload) => void app.server?.publish(topic, payload)).pipe(Effect.forkScoped)
    yield* Effect.logInfo(`http: listening on ${config.appUrl} (port ${config.port})`)
  })
)
