// Translating use-case results to HTTP: JSON bodies, and errors as `{ error: { code, message } }` with the
// status a caller can act on. Infrastructure trouble is a 503 (try again), never a 500 with internals.
import { Cause, Effect, Exit, Schema } from "effect"
import { decodeIdOrNull } from "../../domain/ids.ts"
import type { Run } from "./run.ts"

export const errorBody = (status: number, code: string, message: string) =>
  Response.json({ error: { code, message } }, { status })

const Tagged = Schema.Struct({ _tag: Schema.String, message: Schema.optional(Schema.String) })

/** Known failures by tag; anything else is a defect and answers 500 (and is logged). */
export const errorResponse = (error: unknown): Response => {
  const { _tag, message } = Schema.is(Tagged)(error) ? error : { _tag: "", message: undefined }
  switch (_tag) {
    case "InvalidRequest":
    case "SchemaError":
      return errorBody(400, "invalid_request", message ?? "the request is malformed")
    case "Unauthenticated":
      return errorBody(401, "unauthenticated", message ?? "a valid bearer token is required")
    case "Forbidden":
      return errorBody(403, "forbidden", message ?? "this token may not do that")
    case "TrialNotFound":
      return errorBody(404, "not_found", "no such trial")
    case "BusinessNotFound":
      return errorBody(404, "not_found", "no such business")
    case "AlreadyAssigned":
      return errorBody(409, "already_assigned", "this business already has its number")
    case "RepositoryUnavailable":
    case "JobQueueUnavailable":
      return errorBody(503, "unavailable", "the service is briefly unavailable; try again")
    default:
      return errorBody(500, "internal", "something went wrong on our side")
  }
}

export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  message: Schema.String
}) {}

/** `Expected ... at ["field"]` → `field: expected ...`: the field a person has to fix comes first. */
const describeSchemaError = (error: Schema.SchemaError): string => {
  const text = error.message.replaceAll("\n", " ")
  const match = /^(.*?)\s+at \[(.*)\]$/.exec(text)
  if (!match) return text
  const path = (match[2] ?? "").replaceAll('"', "").replaceAll(",", ".")
  return `${path}: ${(match[1] ?? "").replace(/^Expected/, "expected")}`
}

export const decodeBody =
  <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) =>
  (input: unknown) =>
    Schema.decodeUnknownEffect(schema)(input, { onExcessProperty: "ignore" }).pipe(
      Effect.mapError((error) => new InvalidRequest({ message: describeSchemaError(error) }))
    )

/**
 * An id from the path or query, decoded by its branded Schema: a malformed one fails as an unknown one would
 * (the same answer, and no database round trip).
 */
export const decodeIdOr =
  <S extends Schema.Top & { readonly DecodingServices: never }, E>(schema: S, unknown: () => E) =>
  (raw: unknown): Effect.Effect<S["Type"], E> => {
    const id = decodeIdOrNull(schema)(raw)
    return id === null ? Effect.fail(unknown()) : Effect.succeed(id)
  }

export const MAX_BODY_BYTES = 64 * 1024

/** The request's JSON body: 413 past the limit, 400 when it is not JSON. */
export const readJson = (request: Request) =>
  Effect.gen(function* () {
    const text = yield* readText(request)
    if (text.trim() === "") return yield* new InvalidRequest({ message: "the body must be a JSON object" })
    return yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: () => new InvalidRequest({ message: "the body is not valid JSON" })
    })
  })

export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {}) {}

export const readText = (request: Request) =>
  Effect.gen(function* () {
    const declared = Number(request.headers.get("content-length") ?? 0)
    if (declared > MAX_BODY_BYTES) return yield* new PayloadTooLarge()
    const text = yield* Effect.tryPromise({
      try: () => request.text(),
      catch: () => new InvalidRequest({ message: "the body could not be read" })
    })
    if (text.length > MAX_BODY_BYTES) return yield* new PayloadTooLarge()
    return text
  })

/**
 * Runs a handler's program (interrupted if the client goes away) and answers its Response; failures become
 * error responses, defects a logged 500.
 */
export const respond = async <R>(
  run: Run<R>,
  request: Request,
  program: Effect.Effect<Response, unknown, R>
): Promise<Response> => {
  const exit = await run(Effect.exit(program), { signal: request.signal })
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.findErrorOption(exit.cause)
  if (failure._tag === "Some") {
    if (Schema.is(Schema.Struct({ _tag: Schema.Literal("PayloadTooLarge") }))(failure.value)) {
      return errorBody(413, "payload_too_large", `the body is larger than ${MAX_BODY_BYTES} bytes`)
    }
    return errorResponse(failure.value)
  }
  if (!Cause.hasInterruptsOnly(exit.cause)) {
    await run(Effect.logError("request failed", Cause.pretty(exit.cause)))
  }
  return errorResponse(null)
}
