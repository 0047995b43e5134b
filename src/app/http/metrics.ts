// `GET /metrics`: this instance's metrics in Prometheus's text format (the instruments: src/ports/metrics.ts),
// for a service token: the figures are ours, not the public's. Every role serves it (a worker on its own small
// app: app.ts).
import { Schema } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { route, serviceToken } from "./route.ts"

const PrometheusText = Schema.String.annotate({
  description: "Prometheus text exposition format 0.0.4"
})

export const metricsRoutes = [
  route({
    method: "GET",
    path: "/metrics",
    summary: "This instance's metrics in Prometheus text format (service token)",
    auth: serviceToken,
    answer: { schema: PrometheusText, status: 200, as: "text/plain", parameters: "version=0.0.4" },
    // Scraped every few seconds: not a trace worth keeping each time.
    traced: false,
    run: () => PrometheusMetrics.format()
  })
]
