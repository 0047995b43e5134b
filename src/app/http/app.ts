// The Elysia app: one instance per area, composed. Built from a `run` function, so tests build it on
// in-memory layers (a ManagedRuntime) and the service on the real ones.
import { Elysia } from "elysia"
import { apiRoutes } from "./api.ts"
import { CABLE_SOCKETS, cableRoutes } from "./cable.ts"
import { dashboardRoutes } from "./dashboard.ts"
import { docsRoutes } from "./docs.ts"
import { healthRoutes } from "./health.ts"
import { openApiDocument, openApiRoutes } from "./openapi.ts"
import { errorBody, internalError, MAX_BODY_BYTES } from "./respond.ts"
import { mount } from "./route.ts"
import type { Run } from "./run.ts"
import type { HttpServices, HttpSettings } from "./services.ts"
import { webhookRoutes } from "./webhooks.ts"

const document = openApiDocument([...apiRoutes, ...webhookRoutes, ...healthRoutes])

export const makeApp = (run: Run<HttpServices>, settings: HttpSettings) =>
  // Bun's socket settings are the server's, not a route's: they are given here, where the server is made.
  new Elysia({ websocket: CABLE_SOCKETS })
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
    .use(mount("health", run, settings, healthRoutes))
    .use(mount("api", run, settings, apiRoutes))
    .use(mount("webhooks", run, settings, webhookRoutes))
    .use(cableRoutes(run, settings))
    .use(dashboardRoutes())
    .use(openApiRoutes(document))
    .use(docsRoutes())
