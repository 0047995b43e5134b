// Assistant on Vapi's REST API through Effect's HttpClient (not @vapi-ai/server-sdk, which retries POSTs).
// What we send and read is Schema-checked; Vapi's failures become the port's errors here. The HttpClient makes
// a client span per request (method, URL, status; no headers: the key travels in Authorization only, never in
// the URL); each request is also a log line and a count in numbers_provider_requests_total.
import { Cause, Duration, Effect, Exit, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, type HttpClientResponse } from "effect/http"
import type { AssistantId } from "../../domain/ids.ts"
import {
  Assistant,
  AssistantNotFound,
  AssistantRejected,
  AssistantUnavailable,
  type InboundCall,
  type ServerSettings
} from "../../ports/Assistant.ts"
import { outcomeOfStatus, type ProviderOutcome, recordProviderRequest } from "../../ports/metrics.ts"

export interface VapiOptions {
  readonly apiKey: Redacted.Redacted<string>
  readonly apiUrl: string
  /** The Twilio account the numbers live in: Vapi needs it to take a call on a number it has not imported. */
  readonly twilio: Option.Option<{
    readonly accountSid: string
    readonly authToken: Redacted.Redacted<string>
  }>
  readonly timeout?: Duration.Input
}

/** The header a request id would come in: Vapi documents none; a proxy in front of it may add one. */
const REQUEST_ID = "x-request-id"

const outcomeOf = (exit: Exit.Exit<HttpClientResponse.HttpClientResponse, unknown>): ProviderOutcome => {
  if (Exit.isSuccess(exit)) return outcomeOfStatus(exit.value.status)
  // Our own time limit (AssistantUnavailable), or the caller's (an interruption: a webhook's budget).
  if (Cause.hasInterruptsOnly(exit.cause)) return "timeout"
  return Option.match(Exit.findErrorOption(exit), {
    onNone: () => "network_error",
    onSome: (error) =>
      (error as { readonly _tag?: string })._tag === "AssistantUnavailable" ? "timeout" : "network_error"
  })
}

/** `POST /call` answer with the provider bypass: the TwiML that hands the call to Vapi. */
const BypassCall = Schema.Struct({
  id: Schema.String,
  phoneCallProviderDetails: Schema.Struct({ twiml: Schema.String.check(Schema.isNonEmpty()) })
})

/** Vapi's NestJS error body; the message is a sentence or a list of them. */
const VapiError = Schema.Struct({
  message: Schema.optional(Schema.Union([Schema.String, Schema.Array(Schema.String)]))
})

const messageOf = (body: unknown): string => {
  if (!Schema.is(VapiError)(body)) return ""
  const { message } = body
  return typeof message === "string" ? message : (message ?? []).join("; ")
}

/** Vapi's NestJS error texts are not stable: "does not exist" is the documented way a missing assistant reads. */
const mapStatus = (operation: string, assistantId: string, response: HttpClientResponse.HttpClientResponse) =>
  Effect.gen(function* () {
    const body = yield* response.json.pipe(Effect.orElseSucceed(() => null))
    const message = messageOf(body)
    const detail = `${operation}: HTTP ${response.status}`
    if (response.status === 404 || /does not exist/i.test(message))
      return new AssistantNotFound({ assistantId })
    if (response.status === 429 || response.status >= 500)
      return new AssistantUnavailable({ message: detail })
    // 400/401/403: the request or the key is wrong; Vapi's message names what (never a secret of ours).
    return new AssistantRejected({ message: message === "" ? detail : `${detail}: ${message.slice(0, 200)}` })
  })

/** The request never reached Vapi: the connection could not be made at all. */
const neverReached = (error: { readonly reason: { readonly _tag: string; readonly cause?: unknown } }) => {
  if (error.reason._tag !== "TransportError") return false
  const text = String((error.reason.cause as { code?: string } | undefined)?.code ?? error.reason.cause)
  return /ConnectionRefused|ECONNREFUSED/i.test(text)
}

export const layer = (options: VapiOptions) =>
  Layer.effect(
    Assistant,
    Effect.gen(function* () {
      const timeout = options.timeout ?? "8 seconds"
      const client = (yield* HttpClient.HttpClient).pipe(
        HttpClient.mapRequest((request) =>
          request.pipe(
            HttpClientRequest.prependUrl(options.apiUrl.replace(/\/+$/, "")),
            HttpClientRequest.acceptJson,
            HttpClientRequest.bearerToken(Redacted.value(options.apiKey))
          )
        )
      )

      /**
       * `operation` names the request in messages, `measured` is the port operation it is counted as, and
       * `path` is its URL path as a template (the client span is named `{method} {path}`, no ids).
       */
      const send = (
        operation: string,
        measured: string,
        path: string,
        request: HttpClientRequest.HttpClientRequest
      ) =>
        Effect.suspend(() => {
          const started = performance.now()
          return client.execute(request).pipe(
            Effect.provideService(HttpClient.SpanNameGenerator, (r) => `${r.method} ${path}`),
            Effect.timeoutOrElse({
              duration: timeout,
              orElse: () =>
                Effect.fail(
                  new AssistantUnavailable({ message: `${operation}: Vapi did not answer in time` })
                )
            }),
            Effect.tap((response) => {
              const requestId = response.headers[REQUEST_ID]
              const took = Math.round(performance.now() - started)
              return Effect.logInfo(
                `vapi: ${request.method} ${operation} answered ${response.status} in ${took} ms`
              ).pipe(
                Effect.annotateLogs({
                  provider: "vapi",
                  ...(requestId ? { vapi_request_id: requestId } : {})
                }),
                Effect.andThen(
                  requestId ? Effect.annotateCurrentSpan("vapi.request_id", requestId) : Effect.void
                )
              )
            }),
            Effect.onExit((exit) =>
              recordProviderRequest(
                "vapi",
                measured,
                outcomeOf(exit),
                Duration.millis(performance.now() - started)
              )
            )
          )
        })

      const setServer = Effect.fn("Assistant.setServer")(function* (
        assistantId: AssistantId,
        settings: ServerSettings
      ) {
        const request = HttpClientRequest.patch(`/assistant/${encodeURIComponent(assistantId)}`).pipe(
          HttpClientRequest.bodyJsonUnsafe({
            server: { url: settings.url, headers: { "X-Vapi-Secret": Redacted.value(settings.secret) } }
          })
        )
        // A PATCH is safe to repeat: transient failures are retried here, briefly.
        const response = yield* send("update assistant", "set_server", "/assistant/{id}", request).pipe(
          Effect.flatMap((response) =>
            response.status >= 500 || response.status === 429
              ? Effect.fail(
                  new AssistantUnavailable({ message: `update assistant: HTTP ${response.status}` })
                )
              : Effect.succeed(response)
          ),
          Effect.catchTag("HttpClientError", () =>
            Effect.fail(
              new AssistantUnavailable({ message: "update assistant: the connection to Vapi failed" })
            )
          ),
          Effect.retry({ schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered), times: 2 })
        )
        if (response.status !== 200)
          return yield* Effect.flip(mapStatus("update assistant", assistantId, response))
      })

      const startInboundCall = Effect.fn("Assistant.startInboundCall")(function* (call: InboundCall) {
        if (Option.isNone(options.twilio)) {
          return yield* new AssistantRejected({
            message: "start call: no Twilio credentials to hand the call over with"
          })
        }
        const twilio = options.twilio.value
        // A transient phone number (not an imported one): importing would make Vapi rewrite our voice URL.
        const request = HttpClientRequest.post("/call").pipe(
          HttpClientRequest.bodyJsonUnsafe({
            assistantId: call.assistantId,
            phoneCallProviderBypassEnabled: true,
            customer: { number: call.from },
            phoneNumber: {
              twilioPhoneNumber: call.to,
              twilioAccountSid: twilio.accountSid,
              twilioAuthToken: Redacted.value(twilio.authToken)
            },
            transport: { provider: "twilio", callSid: call.callSid }
          })
        )
        // A POST /call is repeated only when it provably never reached Vapi (connection refused).
        const response = yield* send("start call", "start_inbound_call", "/call", request).pipe(
          Effect.retry({ times: 1, while: (e) => e._tag === "HttpClientError" && neverReached(e) }),
          Effect.catchTag("HttpClientError", () =>
            Effect.fail(new AssistantUnavailable({ message: "start call: the connection to Vapi failed" }))
          )
        )
        if (response.status !== 201 && response.status !== 200) {
          return yield* Effect.flip(mapStatus("start call", call.assistantId, response))
        }
        const created = yield* response.json.pipe(
          Effect.flatMap(Schema.decodeUnknownEffect(BypassCall)),
          Effect.mapError(
            () => new AssistantUnavailable({ message: "start call: Vapi's answer had no TwiML" })
          )
        )
        return created.phoneCallProviderDetails.twiml
      })

      return Assistant.of({ setServer, startInboundCall })
    })
  ).pipe(Layer.provide(FetchHttpClient.layer))
