// `bun start`: the service. ROLE=all (default) serves HTTP and runs the worker in one process; ROLE=web and
// ROLE=worker split them across machines that share one Postgres (a worker serves /health, /ready and
// /metrics on PORT). Logs, traces and metrics as AppConfig's telemetry says (layers/telemetry.ts).
import { Cause, Effect, Exit, Fiber, Layer } from "effect"
import { initialSeries } from "../../ports/metrics.ts"
import { httpLayer, workerHttpLayer } from "../http/server.ts"
import { AppConfig, loadAppConfig } from "../layers/AppConfig.ts"
import { serviceLayer } from "../layers/service.ts"
import { loggerLayer, tracingLayer } from "../layers/telemetry.ts"
import { sandboxWelcomeLayer } from "./sandboxWelcome.ts"
import { workerLayer } from "./worker.ts"

const roleLayer = Layer.unwrap(
  Effect.gen(function* () {
    const { role, sandbox } = yield* AppConfig
    const web = sandbox ? Layer.merge(httpLayer, sandboxWelcomeLayer) : httpLayer
    if (role === "web") return web
    if (role === "worker") return Layer.merge(workerHttpLayer, workerLayer)
    return Layer.merge(web, workerLayer)
  })
)

const program = Effect.gen(function* () {
  const config = yield* loadAppConfig
  const started = performance.now()
  yield* initialSeries
  return yield* Layer.launch(
    roleLayer.pipe(
      Layer.tap(() =>
        Effect.logInfo(`numbers: ready as ${config.role} in ${Math.round(performance.now() - started)} ms`)
      ),
      Layer.provideMerge(serviceLayer),
      Layer.provide(Layer.succeed(AppConfig, config)),
      // Outermost: built first and released last, so the spans of the shutdown itself are flushed too.
      Layer.provide(tracingLayer(config))
    )
  ).pipe(Effect.provide(loggerLayer(config.telemetry)))
})

const fiber = Effect.runFork(program)
// SIGTERM/SIGINT: interrupting the program releases its layers in reverse: HTTP and job fetching stop first,
// jobs in flight finish, connections close, and an embedded database stops last.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    Effect.runFork(Fiber.interrupt(fiber))
  })
}
fiber.addObserver((exit) => {
  if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) process.exit(0)
  const config = Cause.findErrorOption(exit.cause)
  if (config._tag === "Some" && config.value._tag === "InvalidConfig") {
    console.error(`numbers: configuration: ${config.value.message}`)
  } else {
    console.error(Cause.pretty(exit.cause))
  }
  process.exit(1)
})
