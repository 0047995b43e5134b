// The Elysia app: one instance per area, composed. Built from a `run` function, so tests build it on
// in-memory layers (a ManagedRuntime) and the service on the real ones. A worker (ROLE=worker) serves only
// the operations routes: health, readiness and metrics.
import { Elysia } from "elysia"
import { apiRoutes } from "./api.ts"
import { CABLE_SOCKETS, cableRoutes, type OpenSockets, openSockets } from "./cable.ts"
import { dashboardRoutes } from "./dashboard.ts"
import { docsRoutes } from "./docs.ts"
import { healthRoutes } from "./health.ts"
import { metricsRoutes } from "./metrics.ts"
import { openApiDocument, openApiRoutes } from "./openapi.ts"
import { errorBody, internalError, MAX_BODY_BYTES } from "./respond.ts"
import { mount } from "./route.ts"
import type { Run } from "./run.ts"
import type { HttpServices, HttpSettings } from "./services.ts"
import { webhookRoutes } from "./webhooks.ts"

const document = openApiDocument([...apiRoutes, ...webhookRoutes, ...healthRoutes, ...metricsRoutes])

/** What every app answers the same way: a body over the limit (413), no such route (404), a malformed request. */
const guarded = (app: Elysia) =>
  app
    .onRequest(({ request }) => {
      if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) {
        return errorBody(413, "payload_too_large", `the body is larger than ${MAX_BODY_BYTES} bytes`)
      }
    })
    .onError(({ code }) =>
      code === "NOT_FOUND"
        ? errorBody(404, "not_found", "no such route")
        : code === "PARSE" || code === "VALIDATION"
          ? errorBody(400, "invalid_request", "the request is malformed")
          : internalError()
    )

export const makeApp = (
  run: Run<HttpServices>,
  settings: HttpSettings,
  sockets: OpenSockets = openSockets()
) =>
  // Bun's socket settings are the server's, not a route's: they are given here, where the server is made.
  guarded(new Elysia({ websocket: CABLE_SOCKETS }))
    .use(mount("health", run, settings, healthRoutes))
    .use(mount("metrics", run, settings, metricsRoutes))
    .use(mount("api", run, settings, apiRoutes))
    .use(mount("webhooks", run, settings, webhookRoutes))
    .use(cableRoutes(run, settings, sockets))
    .use(dashboardRoutes())
    .use(openApiRoutes(document))
    .use(docsRoutes())

/** A worker's app: health, readiness and metrics; anything else is 404. */
export const makeWorkerApp = (run: Run<HttpServices>, settings: HttpSettings) =>
  guarded(new Elysia())
    .use(mount("health", run, settings, healthRoutes))
    .use(mount("metrics", run, settings, metricsRoutes))
