// `bun start`: the service. ROLE=all (default) serves HTTP and runs the worker in one process; ROLE=web and
// ROLE=worker split them across machines that share one Postgres.
import { Cause, Effect, Exit, Fiber, Layer, Logger } from "effect"
import { httpLayer } from "../http/server.ts"
import { AppConfig, loadAppConfig } from "../layers/AppConfig.ts"
import { serviceLayer } from "../layers/service.ts"
import { sandboxWelcomeLayer } from "./sandboxWelcome.ts"
import { workerLayer } from "./worker.ts"

const roleLayer = Layer.unwrap(
  Effect.gen(function* () {
    const { role, sandbox } = yield* AppConfig
    const web = sandbox ? Layer.merge(httpLayer, sandboxWelcomeLayer) : httpLayer
    if (role === "web") return web
    if (role === "worker") return workerLayer
    return Layer.merge(web, workerLayer)
  })
)

const logger = Logger.layer([
  process.env.NODE_ENV === "production" ? Logger.consoleJson : Logger.consolePretty()
])

const program = Effect.gen(function* () {
  const config = yield* loadAppConfig
  const started = performance.now()
  return yield* Layer.launch(
    roleLayer.pipe(
      Layer.tap(() =>
        Effect.logInfo(`numbers: ready as ${config.role} in ${Math.round(performance.now() - started)} ms`)
      ),
      Layer.provideMerge(serviceLayer),
      Layer.provide(Layer.succeed(AppConfig, config))
    )
  )
}).pipe(Effect.provide(logger))

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
