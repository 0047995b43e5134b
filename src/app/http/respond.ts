// Translating failures to HTTP: every error a route can meet has one answer here, `{ error: { code, message } }`
// with the status a caller can act on. Infrastructure trouble is a 503 (try again), never a 500 with internals.
import { Effect, Schema } from "effect"
import {
  AlreadyAssigned,
  BusinessActive,
  BusinessCancelled,
  BusinessNotFound,
  TrialNotFound
} from "../../domain/errors.ts"
import { BroadcastUnavailable } from "../../ports/Broadcaster.ts"
import { JobQueueUnavailable } from "../../ports/JobQueue.ts"
import { RepositoryUnavailable } from "../../ports/Repository.ts"
import { TelephonyRateLimited, TelephonyRejected, TelephonyUnavailable } from "../../ports/Telephony.ts"
import { ReleaseSettling } from "../usecases/NumberLifecycle.ts"
import { Forbidden, Unauthenticated } from "./auth.ts"

export const MAX_BODY_BYTES = 64 * 1024

export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  message: Schema.String
}) {}

export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {}) {}

/** Not signed by Twilio with our auth token, for the URL we are published at. */
export class BadSignature extends Schema.TaggedError<BadSignature>()("BadSignature", {}) {}

/** Not carrying the secret we gave Vapi. */
export class BadSecret extends Schema.TaggedError<BadSecret>()("BadSecret", {}) {}

/** Every failure a route may answer: a route's use case can fail with these, and only these. */
export const KnownError = Schema.Union([
  InvalidRequest,
  PayloadTooLarge,
  Unauthenticated,
  Forbidden,
  BadSignature,
  BadSecret,
  TrialNotFound,
  BusinessNotFound,
  AlreadyAssigned,
  BusinessCancelled,
  BusinessActive,
  ReleaseSettling,
  RepositoryUnavailable,
  JobQueueUnavailable,
  BroadcastUnavailable,
  TelephonyRateLimited,
  TelephonyUnavailable,
  TelephonyRejected
])
export type KnownError = typeof KnownError.Type
export type KnownTag = KnownError["_tag"]
export type ErrorOf<T extends KnownTag> = Extract<KnownError, { readonly _tag: T }>

export const ErrorCode = Schema.Literals([
  "invalid_request",
  "payload_too_large",
  "unauthenticated",
  "forbidden",
  "bad_signature",
  "bad_secret",
  "not_found",
  "already_assigned",
  "business_cancelled",
  "business_active",
  "release_in_progress",
  "unavailable",
  "internal"
])
export type ErrorCode = typeof ErrorCode.Type

export const ErrorBody = Schema.Struct({
  error: Schema.Struct({ code: ErrorCode, message: Schema.String })
}).annotate({ identifier: "Error" })

interface ErrorAnswer<E> {
  readonly status: number
  readonly code: ErrorCode
  readonly message: (error: E) => string
}

const unavailable = {
  status: 503,
  code: "unavailable",
  message: () => "the service is briefly unavailable; try again"
} as const

/** The one mapping from failures to answers (the OpenAPI document lists each route's from it too). */
export const errorAnswers: { readonly [T in KnownTag]: ErrorAnswer<ErrorOf<T>> } = {
  InvalidRequest: { status: 400, code: "invalid_request", message: (e) => e.message },
  PayloadTooLarge: {
    status: 413,
    code: "payload_too_large",
    message: () => `the body is larger than ${MAX_BODY_BYTES} bytes`
  },
  Unauthenticated: { status: 401, code: "unauthenticated", message: (e) => e.message },
  Forbidden: { status: 403, code: "forbidden", message: (e) => e.message },
  BadSignature: {
    status: 403,
    code: "bad_signature",
    message: () => "X-Twilio-Signature is missing or does not match"
  },
  BadSecret: { status: 401, code: "bad_secret", message: () => "X-Vapi-Secret is missing or wrong" },
  TrialNotFound: { status: 404, code: "not_found", message: () => "no such trial" },
  BusinessNotFound: { status: 404, code: "not_found", message: () => "no such business" },
  AlreadyAssigned: {
    status: 409,
    code: "already_assigned",
    message: () => "this business already has its number"
  },
  BusinessCancelled: {
    status: 409,
    code: "business_cancelled",
    message: () => "this business is cancelled; reactivate it first"
  },
  ReleaseSettling: {
    status: 409,
    code: "release_in_progress",
    message: (e) =>
      `this business's number is being released and may be gone in a moment; try again in ${e.retryAfterSeconds} s`
  },
  BusinessActive: {
    status: 409,
    code: "business_active",
    message: () => "this business is active and its number in use; cancel it first"
  },
  RepositoryUnavailable: unavailable,
  JobQueueUnavailable: unavailable,
  BroadcastUnavailable: unavailable,
  // Twilio is asked only when a reactivation finds a release without a recorded answer: try again.
  TelephonyRateLimited: unavailable,
  TelephonyUnavailable: unavailable,
  TelephonyRejected: unavailable
}

export const errorBody = (status: number, code: ErrorCode, message: string) =>
  Response.json({ error: { code, message } } satisfies typeof ErrorBody.Type, { status })

export const errorResponse = (error: KnownError): Response => {
  const answer = errorAnswers[error._tag] as ErrorAnswer<KnownError>
  return errorBody(answer.status, answer.code, answer.message(error))
}

export const internalError = () => errorBody(500, "internal", "something went wrong on our side")

/** `Expected ... at ["message"]["type"]` → `message.type: expected ...`: the field to fix comes first. */
export const describeSchemaError = (error: Schema.SchemaError): string => {
  const text = error.message.replaceAll("\n", " ")
  const match = /^(.*?)\s+at ((?:\[[^\]]*\])+)$/.exec(text)
  if (!match) return text
  const path = Array.from((match[2] ?? "").matchAll(/\[([^\]]*)\]/g), ([, key]) =>
    (key ?? "").replaceAll('"', "")
  )
  return `${path.join(".")}: ${(match[1] ?? "").replace(/^Expected/, "expected")}`
}

/**
 * The body's bytes, or null once they pass `limit`: a body sent without a Content-Length (chunked) is read a
 * chunk at a time and dropped there, so no caller can make the service hold more than the limit.
 */
const readBytes = async (request: Request, limit: number): Promise<Uint8Array | null> => {
  if (request.headers.has("content-length")) {
    // Declared within the limit (checked before): the body is exactly that long.
    const bytes = new Uint8Array(await request.arrayBuffer())
    return bytes.byteLength > limit ? null : bytes
  }
  if (request.body === null) return new Uint8Array(0)
  const reader = request.body.getReader()
  const chunks: Array<Uint8Array> = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      // The answer is the 413 whether or not the stream lets itself be cancelled.
      await reader.cancel().catch(() => undefined)
      return null
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks, size)
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The request's body as text: 413 past the limit in bytes, however it was sent; 400 when it is not UTF-8. */
export const readText = (request: Request) =>
  Effect.gen(function* () {
    const declared = Number(request.headers.get("content-length") ?? 0)
    if (declared > MAX_BODY_BYTES) return yield* new PayloadTooLarge()
    const bytes = yield* Effect.tryPromise({
      try: () => readBytes(request, MAX_BODY_BYTES),
      catch: () => new InvalidRequest({ message: "the body could not be read" })
    })
    if (bytes === null) return yield* new PayloadTooLarge()
    return yield* Effect.try({
      try: () => utf8.decode(bytes),
      catch: () => new InvalidRequest({ message: "the body is not valid UTF-8" })
    })
  })

/** A body's text as JSON: 400 when it is empty or not JSON. */
export const parseJson = (text: string) =>
  text.trim() === ""
    ? Effect.fail(new InvalidRequest({ message: "the body must be a JSON object" }))
    : Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: () => new InvalidRequest({ message: "the body is not valid JSON" })
      })
