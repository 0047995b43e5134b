// One way through the HTTP boundary. A route states who may call it, what it reads (path ids, query, body: each
// by its Schema), the use case, and its answer's Schema; `mount` does the rest the same way for every route:
// authenticate, decode, run, encode, and answer failures from the one mapping in respond.ts. The OpenAPI
// document is generated from the same declarations (openapi.ts), so the two cannot drift. Every request is a
// server span named `{METHOD} {route pattern}` (the child of the caller's W3C traceparent, if it sent one) and
// a count and a duration in numbers_http_requests_total and numbers_http_request_duration_seconds, labelled
// by the pattern, never the raw path.
import { Cause, Effect, Exit, Metric, Option, Schema } from "effect"
import { Headers, HttpTraceContext } from "effect/http"
import { Elysia } from "elysia"
import type { Caller } from "../../domain/ownership.ts"
import { httpRequestDuration, httpRequests, labelled } from "../../ports/metrics.ts"
import { bearer, requireService, verifyToken } from "./auth.ts"
import {
  describeSchemaError,
  type ErrorOf,
  errorBody,
  errorResponse,
  InvalidRequest,
  internalError,
  type KnownError,
  type KnownTag,
  type PayloadTooLarge,
  parseJson,
  readText
} from "./respond.ts"
import type { Run } from "./run.ts"
import type { HttpSettings } from "./services.ts"

/** A Schema that decodes and encodes without services: what crosses the boundary. */
export type Codec = Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }

/** Who may call: checks the request (and, for a signed body, the body) and says who called. */
export interface Auth<C> {
  /** The OpenAPI security scheme it is documented as; none for an open route. */
  readonly scheme?: { readonly name: string; readonly definition: Record<string, string> }
  /** What a refusal fails with (each documented with its status). */
  readonly refusals: ReadonlyArray<KnownTag>
  readonly check: (
    request: Request,
    settings: HttpSettings,
    body: Effect.Effect<string, InvalidRequest | PayloadTooLarge>
  ) => Effect.Effect<C, KnownError>
}

const bearerScheme = {
  name: "bearer",
  definition: { type: "http", scheme: "bearer", bearerFormat: "JWT (HS256, AUTH_SECRET)" }
}

export const open: Auth<void> = { refusals: [], check: () => Effect.void }

/** Any valid token: an owner (who sees their own businesses) or a service. */
export const anyToken: Auth<Caller> = {
  scheme: bearerScheme,
  refusals: ["Unauthenticated"],
  check: (request, settings) => verifyToken(settings.authSecret, bearer(request.headers.get("authorization")))
}

export const serviceToken: Auth<Caller> = {
  scheme: bearerScheme,
  refusals: ["Unauthenticated", "Forbidden"],
  check: (request, settings, body) => anyToken.check(request, settings, body).pipe(Effect.tap(requireService))
}

/** Path parameters (our ids): a malformed one is answered as an unknown one would be, with no lookup. */
export interface PathIds<P extends Codec> {
  readonly schema: P
  readonly unknown: () => KnownError
}

export const pathIds = <F extends Schema.Struct.Fields>(fields: F, unknown: () => KnownError) => ({
  schema: Schema.Struct(fields),
  unknown
})

export interface Body<B extends Codec> {
  readonly schema: B
  readonly as: "application/json" | "application/x-www-form-urlencoded"
}

export const json = <B extends Codec>(schema: B): Body<B> => ({ schema, as: "application/json" })
export const form = <B extends Codec>(schema: B): Body<B> => ({
  schema,
  as: "application/x-www-form-urlencoded"
})

export interface Answer<S extends Codec> {
  readonly schema: S
  /** The status; or how the answer picks one of `among` (all of them documented). */
  readonly status:
    | number
    | { readonly of: (value: S["Type"]) => number; readonly among: ReadonlyArray<number> }
  readonly as?: "application/json" | "text/xml" | "text/plain"
  /** Media-type parameters sent before the charset (Prometheus's text format: `version=0.0.4`). */
  readonly parameters?: string
}

/** What a route that reads no path, query or body gets for it. */
export const NoInput = Schema.Struct({})
type NoInput = typeof NoInput

/** A route as `mount` and the document generator read it. */
export interface Route<R> {
  readonly method: "GET" | "POST"
  /** Elysia's form: `/api/trials/:id/convert`. */
  readonly path: string
  readonly summary: string
  readonly auth: Auth<unknown>
  readonly params?: PathIds<Codec>
  readonly query?: Codec
  readonly body?: Body<Codec>
  readonly answer: Answer<Codec>
  /** What the use case can fail with, besides refusals and undecodable input. */
  readonly fails?: ReadonlyArray<KnownTag>
  /** False for probes and scrapes (every few seconds): their spans are made (logs name them) but not exported. */
  readonly traced?: boolean
  readonly run: (input: never) => Effect.Effect<unknown, KnownError, R>
}

/**
 * Declares a route. The types hold it together: `run` gets the decoded inputs, must answer what the answer's
 * Schema encodes, and may fail only with what `fails` lists (so the document lists every answer it can give).
 */
export const route = <
  C,
  S extends Codec,
  R,
  P extends Codec = NoInput,
  Q extends Codec = NoInput,
  B extends Codec = NoInput,
  const F extends ReadonlyArray<KnownTag> = []
>(spec: {
  readonly method: "GET" | "POST"
  readonly path: string
  readonly summary: string
  readonly auth: Auth<C>
  readonly params?: PathIds<P>
  readonly query?: Q
  readonly body?: Body<B>
  readonly answer: Answer<S>
  readonly fails?: F
  readonly traced?: boolean
  readonly run: (input: {
    readonly caller: C
    readonly params: P["Type"]
    readonly query: Q["Type"]
    readonly body: B["Type"]
  }) => Effect.Effect<S["Type"], ErrorOf<F[number]>, R>
}): Route<R> => spec as unknown as Route<R>

/** Every failure a route can answer: refused, an unknown id in the path, undecodable input, or its use case's. */
export const errorTags = (route: Route<unknown>): ReadonlyArray<KnownTag> => [
  ...route.auth.refusals,
  ...(route.params ? [route.params.unknown()._tag] : []),
  ...(route.query || route.body ? (["InvalidRequest"] as const) : []),
  ...(route.body ? (["PayloadTooLarge"] as const) : []),
  ...(route.fails ?? [])
]

/** Query values as `URLSearchParams.get` reads them: the first of a repeated name. */
const queryOf = (url: URL) => {
  const values = new Map<string, string>()
  for (const [name, value] of url.searchParams) if (!values.has(name)) values.set(name, value)
  return Object.fromEntries(values)
}

const decode = (schema: Codec, input: unknown) =>
  Schema.decodeUnknownEffect(schema)(input, { onExcessProperty: "ignore" }).pipe(
    Effect.mapError((error) => new InvalidRequest({ message: describeSchemaError(error) }))
  )

const decodeBody = (body: Body<Codec>, text: string) =>
  body.as === "application/json"
    ? Effect.flatMap(parseJson(text), (input) => decode(body.schema, input))
    : decode(body.schema, Object.fromEntries(new URLSearchParams(text)))

const answer = <R>(route: Route<R>, request: Request, url: URL, params: unknown, settings: HttpSettings) =>
  Effect.gen(function* () {
    const text = yield* Effect.cached(readText(request))
    const caller = yield* route.auth.check(request, settings, text)
    const decoded = {
      caller,
      params: route.params
        ? yield* Schema.decodeUnknownEffect(route.params.schema)(params).pipe(
            Effect.mapError(route.params.unknown)
          )
        : {},
      query: route.query ? yield* decode(route.query, queryOf(url)) : {},
      body: route.body
        ? yield* Effect.flatMap(text, (body) => decodeBody(route.body as Body<Codec>, body))
        : {}
    }
    const value = yield* (route.run as (input: typeof decoded) => Effect.Effect<unknown, KnownError, R>)(
      decoded
    )
    const { schema, status, as = "application/json", parameters } = route.answer
    // The answer not matching its own Schema is our bug: a logged 500.
    const encoded = yield* Effect.orDie(Schema.encodeUnknownEffect(schema)(value))
    const init = { status: typeof status === "number" ? status : status.of(value) }
    const contentType = [as, parameters, "charset=utf-8"].filter((part) => part !== undefined).join("; ")
    return as === "application/json"
      ? Response.json(encoded, init)
      : new Response(String(encoded), { ...init, headers: { "content-type": contentType } })
  })

/** The status a request ended with: its answer's, 499 when the client went away first, else 500. */
const statusOf = (exit: Exit.Exit<Response, unknown>) =>
  Exit.isSuccess(exit) ? exit.value.status : Cause.hasInterruptsOnly(exit.cause) ? 499 : 500

const requestSeries = labelled(httpRequests)
const durationSeries = labelled(httpRequestDuration)

/** Counts and times a request under its route pattern, however it ends. */
const measured =
  (pattern: string) =>
  <E, R>(handled: Effect.Effect<Response, E, R>): Effect.Effect<Response, E, R> =>
    Effect.suspend(() => {
      const started = performance.now()
      return handled.pipe(
        Effect.onExit((exit) =>
          Effect.andThen(
            Metric.update(requestSeries({ route: pattern, status: String(statusOf(exit)) }), 1),
            Metric.update(durationSeries({ route: pattern }), (performance.now() - started) / 1000)
          )
        )
      )
    })

/** The headers a caller's trace context can come in (W3C's, then B3's): most requests carry none. */
const TRACE_HEADERS = ["traceparent", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"]

const callerSpanOf = (request: Request) => {
  const given: Record<string, string> = {}
  let any = false
  for (const name of TRACE_HEADERS) {
    const value = request.headers.get(name)
    if (value !== null) {
      given[name] = value
      any = true
    }
  }
  return any ? HttpTraceContext.fromHeaders(Headers.fromInput(given)) : Option.none()
}

/**
 * The request's server span. Its attributes are the method, the pattern, the path and the status: never the
 * query, a header or the body, where tokens, signatures and secrets travel.
 */
const traced = (route: Route<unknown>, request: Request, url: URL) => {
  const caller = callerSpanOf(request)
  return <E, R>(handled: Effect.Effect<Response, E, R>): Effect.Effect<Response, E, R> =>
    handled.pipe(
      Effect.tap((response) => Effect.annotateCurrentSpan("http.response.status_code", response.status)),
      Effect.withSpan(`${route.method} ${route.path}`, {
        kind: "server",
        ...(Option.isSome(caller) ? { parent: caller.value } : { root: true }),
        ...(route.traced === false ? { sampled: false } : {}),
        attributes: {
          "http.request.method": route.method,
          "http.route": route.path,
          "url.path": url.pathname,
          "url.scheme": url.protocol.replace(/:$/, "")
        }
      })
    )
}

/**
 * The request's URL, or null when its Host is not a host name. A request without a Host (HTTP/1.0: a load
 * balancer's health check) has a URL of its path alone, and so does one whose Host Bun could not use.
 */
const urlOf = (request: Request): URL | null => {
  try {
    if (request.url.startsWith("/") && request.headers.get("host")) return null
    return new URL(request.url, "http://host.invalid")
  } catch {
    return null
  }
}

/**
 * Runs a route for a request (interrupted if the client goes away): failures answer from the one mapping,
 * defects a logged 500.
 */
const serve = async <R>(
  run: Run<R>,
  settings: HttpSettings,
  route: Route<R>,
  request: Request,
  params: unknown
): Promise<Response> => {
  const url = urlOf(request)
  // Bun builds the request's URL from its Host header: one that is not a host name cannot make one.
  if (url === null) return errorBody(400, "invalid_request", "the Host header is not a valid host name")
  const exit = await run(
    Effect.exit(
      answer(route, request, url, params, settings).pipe(
        Effect.catch((e) => Effect.succeed(errorResponse(e))),
        Effect.tapCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Effect.void
            : Effect.logError("request failed", Cause.pretty(cause)).pipe(
                Effect.andThen(Effect.annotateCurrentSpan("http.response.status_code", 500))
              )
        ),
        traced(route as Route<unknown>, request, url),
        measured(route.path)
      )
    ),
    { signal: request.signal }
  )
  return Exit.isSuccess(exit) ? exit.value : internalError()
}

/** The routes as one Elysia instance; the body is read by `serve`, never parsed by Elysia. */
export const mount = <R>(
  name: string,
  run: Run<R>,
  settings: HttpSettings,
  routes: ReadonlyArray<Route<R>>
) => {
  const app = new Elysia({ name })
  for (const route of routes) {
    app.route(
      route.method,
      route.path,
      ({ request, params }) => serve(run, settings, route, request, params),
      {
        parse: "none"
      }
    )
  }
  return app
}
