// The service's metrics, declared once (served by `GET /metrics` in Prometheus text format).
//
// Why here, in ports: the instruments are recorded on both sides of the ports (provider calls in the adapters,
// assignments in the use cases, requests and sockets in HTTP), and the import arrows let every one of those
// import a port but not each other. Effect's registry keys a series by name, description and labels, so one
// declaration per metric is what keeps the families whole: two adapters declaring "the same" counter with a
// different description would print it twice. This module declares instruments and the label values they
// take; it does no I/O of its own (recording goes to the registry of the running program).
import { Duration, Effect, Metric } from "effect"

/**
 * A metric's series by label values, each made once. `Metric.withAttributes` makes a new handle whose registry
 * key (its labels sorted into JSON) is computed on the handle's first update: a handle made per request paid
 * that on every request (about 5 % of a read's CPU in the profile). The label values of a metric are few.
 */
export const labelled = <Input, State>(
  metric: Metric.Metric<Input, State>
): ((labels: Readonly<Record<string, string>>) => Metric.Metric<Input, State>) => {
  const made = new Map<string, Metric.Metric<Input, State>>()
  return (labels) => {
    const key = JSON.stringify(labels)
    let series = made.get(key)
    if (series === undefined) {
      series = Metric.withAttributes(metric, labels)
      made.set(key, series)
    }
    return series
  }
}

/** Seconds, the Prometheus unit, from a Duration. */
export const secondsOf = (duration: Duration.Duration): number => Duration.toMillis(duration) / 1000

export const assignments = Metric.counter("numbers_assignments_total", {
  description: "Assignments ended: a number recorded (assigned) or the business marked failed",
  incremental: true
})

export const assignmentDuration = Metric.histogram("numbers_assignment_duration_seconds", {
  description: "From the conversion (the business's creation) to its number being recorded",
  // Seconds when the providers answer; up to the job queue's retry budget (about 110 minutes) when they do not.
  boundaries: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200]
})

export type AreaCodeResult = "purchased" | "empty" | "invalid" | "error"

export const areaCodeAttempts = Metric.counter("numbers_area_code_attempts_total", {
  // A step is an area code, or a state that `nearby` searches (counted once, however many numbers it tried).
  description: "Steps of the area-code chain tried (an area code, or a state searched), by what came of them",
  incremental: true
})

export type Provider = "twilio" | "vapi" | "smtp"

/**
 * What came of one request to a provider: `ok`; the provider answered 429 (`rate_limited`), another 4xx or a
 * refusal (`client_error`: a definite answer such as an empty area code, or bad credentials), 5xx
 * (`server_error`); or no answer at all (`timeout`, `network_error`).
 */
export type ProviderOutcome =
  | "ok"
  | "rate_limited"
  | "client_error"
  | "server_error"
  | "timeout"
  | "network_error"

export const providerRequests = Metric.counter("numbers_provider_requests_total", {
  description: "Requests to Twilio, Vapi and the SMTP server, by operation and outcome",
  incremental: true
})

export const providerRequestDuration = Metric.histogram("numbers_provider_request_duration_seconds", {
  description: "How long a request to a provider took, answered or not",
  boundaries: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
})

/** The outcome of an HTTP answer from a provider. */
export const outcomeOfStatus = (status: number): ProviderOutcome =>
  status === 429 ? "rate_limited" : status >= 500 ? "server_error" : status >= 400 ? "client_error" : "ok"

const providerRequestSeries = labelled(providerRequests)
const providerDurationSeries = labelled(providerRequestDuration)

export const recordProviderRequest = (
  provider: Provider,
  operation: string,
  outcome: ProviderOutcome,
  duration: Duration.Duration
) =>
  Effect.andThen(
    Metric.update(providerRequestSeries({ provider, operation, outcome }), 1),
    Metric.update(providerDurationSeries({ provider, operation }), secondsOf(duration))
  )

export type JobState = "created" | "retry" | "active" | "failed"
export const JOB_STATES: ReadonlyArray<JobState> = ["created", "retry", "active", "failed"]

export const jobs = Metric.gauge("numbers_jobs", {
  description: "Jobs in the queue by state, as the instance labelled read them from pg-boss (every 15 s)"
})

export const httpRequests = Metric.counter("numbers_http_requests_total", {
  description: "HTTP requests answered, by route pattern and status",
  incremental: true
})

export const httpRequestDuration = Metric.histogram("numbers_http_request_duration_seconds", {
  description: "HTTP request duration by route pattern",
  boundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
})

export const cableConnections = Metric.gauge("numbers_cable_connections", {
  description: "Open /cable sockets on this instance"
})

export const ownerEvents = Metric.counter("numbers_owner_events_total", {
  description: "Owner events published, by type (number.assigned, business.cancelled, call.updated, ...)",
  incremental: true
})

/**
 * How a release ended: `released` (Twilio said 204, or 404 on a number already gone), `refused` (the number at
 * that SID is not this business's: never deleted, needs a person), `failed` (the retry budget was spent).
 */
export type ReleaseOutcome = "released" | "refused" | "failed"

export const releases = Metric.counter("numbers_releases_total", {
  description: "Numbers released back to Twilio, by outcome",
  incremental: true
})

/**
 * The series whose label values are known up front, registered at zero (reading a series registers it): a
 * counter that exists before its first increment lets `rate()` and `increase()` see that increment.
 */
export const initialSeries = Effect.all(
  [
    ...(["assigned", "failed"] as const).map((outcome) =>
      Metric.value(Metric.withAttributes(assignments, { outcome }))
    ),
    ...(["purchased", "empty", "invalid", "error"] satisfies ReadonlyArray<AreaCodeResult>).map((result) =>
      Metric.value(Metric.withAttributes(areaCodeAttempts, { result }))
    ),
    ...(["released", "refused", "failed"] satisfies ReadonlyArray<ReleaseOutcome>).map((outcome) =>
      Metric.value(Metric.withAttributes(releases, { outcome }))
    ),
    Metric.value(assignmentDuration),
    Metric.value(cableConnections)
  ],
  { discard: true }
)
