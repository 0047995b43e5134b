// The transport twilio-node calls (its `httpClient` option): fetch with a hard timeout, instead of axios,
// which has hung under Bun. It also turns what the SDK cannot express into typed failures: a 429 with its
// Retry-After, and a request that never got an answer (timeout, reset, refused). Each request is a client span
// (method, URL, status, Twilio-Request-Id; never the credentials, which travel in the Authorization header
// only), a log line carrying the request id, and a count in numbers_provider_requests_total. The SDK's
// promises carry no Effect context, so the Telephony call that makes a request lends its own (its span, tracer
// and logger) through `withOperation`.
import { AsyncLocalStorage } from "node:async_hooks"
import { Cause, Context, Data, Duration, Effect, Exit } from "effect"
import { outcomeOfStatus, type ProviderOutcome, recordProviderRequest } from "../../ports/metrics.ts"

export class TwilioRateLimitedResponse extends Error {
  constructor(readonly retryAfterMillis: number) {
    super("Twilio answered 429 (too many requests)")
  }
}

export class TwilioNoAnswer extends Error {
  constructor(readonly reason: "timeout" | "network") {
    super(reason === "timeout" ? "Twilio did not answer in time" : "the connection to Twilio failed")
  }
}

interface SdkRequest {
  readonly method: string
  readonly uri: string
  readonly username?: string
  readonly password?: string
  readonly headers?: Record<string, string>
  readonly params?: object
  readonly data?: object
}

const toSearchParams = (values: object | undefined): URLSearchParams => {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(values ?? {})) {
    if (value === undefined || value === null) continue
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, String(item))
  }
  return search
}

/** Retry-After is seconds (or an HTTP date); absent, a second is a polite guess. */
const retryAfterMillis = (header: string | null): number => {
  if (header === null) return 1_000
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1_000)
  const at = Date.parse(header)
  return Number.isNaN(at) ? 1_000 : Math.max(0, at - Date.now())
}

/** The Telephony operation a request is made for, with the Effect context it runs in. */
interface Operation {
  readonly name: string
  readonly context: Context.Context<never>
}

const operations = new AsyncLocalStorage<Operation>()

/**
 * `run` (a call into the SDK) with the current Effect context lent to the requests it makes: they become
 * children of the current span, and are counted as `name` (a port operation: `purchase`, `find_owned`, ...).
 */
export const withOperation = <A>(name: string, run: () => Promise<A>) =>
  Effect.map(Effect.context<never>(), (context) => () => operations.run({ name, context }, run))

/** Twilio answered with an error status: the span ends as an error, the SDK still reads the answer. */
class ErrorStatus extends Data.TaggedError("ErrorStatus")<{
  readonly message: string
  readonly answer: SdkAnswer
}> {}

interface SdkAnswer {
  readonly statusCode: number
  readonly body: string
  readonly headers: Record<string, string>
}

/** `/2010-04-01/Accounts/AC.../IncomingPhoneNumbers/PN....json` → `.../Accounts/{Sid}/IncomingPhoneNumbers/{Sid}.json` */
const templateOf = (path: string) => path.replace(/\/[A-Z]{2}[0-9a-fA-F]{32}(?=[./]|$)/g, "/{Sid}")

const outcomeOf = (exit: Exit.Exit<SdkAnswer, unknown>): ProviderOutcome => {
  if (Exit.isSuccess(exit)) return "ok"
  const error = Cause.squash(exit.cause)
  if (error instanceof ErrorStatus) return outcomeOfStatus(error.answer.statusCode)
  if (error instanceof TwilioRateLimitedResponse) return "rate_limited"
  if (error instanceof TwilioNoAnswer) return error.reason === "timeout" ? "timeout" : "network_error"
  return "network_error"
}

const exchange = (request: SdkRequest, operation: string, timeoutMillis: number) => {
  const url = new URL(request.uri)
  url.username = ""
  url.password = ""
  for (const [key, value] of toSearchParams(request.params)) url.searchParams.append(key, value)
  const headers = new Headers(request.headers)
  if (request.username !== undefined && request.password !== undefined) {
    headers.set("Authorization", `Basic ${btoa(`${request.username}:${request.password}`)}`)
  }
  const method = request.method.toUpperCase()
  const template = templateOf(url.pathname)
  const started = performance.now()
  return Effect.gen(function* () {
    const response = yield* Effect.tryPromise({
      try: () =>
        fetch(url, {
          method,
          headers,
          body: method === "POST" || method === "PUT" ? toSearchParams(request.data) : null,
          redirect: "manual",
          signal: AbortSignal.timeout(timeoutMillis)
        }),
      catch: (error) =>
        new TwilioNoAnswer(
          error instanceof DOMException && error.name === "TimeoutError" ? "timeout" : "network"
        )
    })
    const requestId = response.headers.get("twilio-request-id")
    yield* Effect.annotateCurrentSpan({
      "http.response.status_code": response.status,
      ...(requestId ? { "twilio.request_id": requestId } : {})
    })
    const took = Math.round(performance.now() - started)
    yield* Effect.logInfo(`twilio: ${method} ${template} answered ${response.status} in ${took} ms`).pipe(
      Effect.annotateLogs({ provider: "twilio", ...(requestId ? { twilio_request_id: requestId } : {}) })
    )
    if (response.status >= 400) yield* Effect.annotateCurrentSpan("error.type", String(response.status))
    if (response.status === 429)
      return yield* Effect.fail(
        new TwilioRateLimitedResponse(retryAfterMillis(response.headers.get("retry-after")))
      )
    const body = yield* Effect.tryPromise({
      try: () => response.text(),
      catch: () => new TwilioNoAnswer("network")
    })
    const answer = { statusCode: response.status, body, headers: Object.fromEntries(response.headers) }
    if (response.status >= 400) {
      return yield* new ErrorStatus({ message: `Twilio answered ${response.status}`, answer })
    }
    return answer
  }).pipe(
    Effect.withSpan(`${method} ${template}`, {
      kind: "client",
      attributes: {
        "http.request.method": method,
        "url.full": url.href,
        "url.template": template,
        "server.address": url.hostname,
        "server.port": Number(url.port) || (url.protocol === "https:" ? 443 : 80),
        "numbers.provider.operation": operation
      }
    }),
    Effect.onExit((exit) =>
      recordProviderRequest(
        "twilio",
        operation,
        outcomeOf(exit),
        Duration.millis(performance.now() - started)
      )
    ),
    // An error status is an answer for the SDK to read (it raises Twilio's error from the body).
    Effect.catchTag("ErrorStatus", (error) => Effect.succeed(error.answer))
  )
}

export const makeFetchHttpClient = (options: { readonly timeoutMillis: number }) => ({
  request: async (request: SdkRequest): Promise<SdkAnswer> => {
    // A request outside `withOperation` (none is made today) is still traced, as a root span.
    const operation = operations.getStore()
    const exit = await Effect.runPromiseExitWith(operation?.context ?? Context.empty())(
      exchange(request, operation?.name ?? "other", options.timeoutMillis)
    )
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  }
})
