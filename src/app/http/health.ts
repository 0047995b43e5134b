// Liveness and readiness. Ready means the database answers and every migration is applied.
import { Effect, Schema } from "effect"
import { Readiness } from "../../ports/Readiness.ts"
import { open, route } from "./route.ts"

export const healthRoutes = [
  route({
    method: "GET",
    path: "/health",
    summary: "Liveness",
    auth: open,
    answer: { schema: Schema.Struct({ status: Schema.Literal("ok") }), status: 200 },
    // Probed every few seconds: not a trace worth keeping each time.
    traced: false,
    run: () => Effect.succeed({ status: "ok" as const })
  }),
  route({
    method: "GET",
    path: "/ready",
    summary: "Readiness: database reachable, migrations applied (503 when not)",
    auth: open,
    answer: {
      schema: Schema.Struct({ ready: Schema.Boolean }),
      status: { of: ({ ready }) => (ready ? 200 : 503), among: [200, 503] }
    },
    traced: false,
    run: () =>
      Effect.map(
        Readiness.use((r) => r.check),
        (ready) => ({ ready })
      )
  })
]
