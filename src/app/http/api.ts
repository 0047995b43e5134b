// The JSON API: trials, conversion, businesses, and re-queueing an assignment. Each route translates HTTP to a
// use case and back (route.ts); the use cases decide.
import { DateTime, Effect, Schema, SchemaIssue, SchemaTransformation } from "effect"
import {
  AssistantStatus,
  Business,
  BusinessStatus,
  type Call,
  CallStatus,
  NumberStatus,
  NumberStatusCounts,
  Trial
} from "../../domain/entities.ts"
import { BusinessNotFound, TrialNotFound } from "../../domain/errors.ts"
import { BusinessId, decodeIdOrNull, TrialId, VapiCallId } from "../../domain/ids.ts"
import type { Caller } from "../../domain/ownership.ts"
import type { BusinessCursor } from "../../ports/Repository.ts"
import {
  businessFor,
  createTrial,
  listBusinesses,
  NewTrialInput,
  PAGE_SIZE,
  recentCallsOf,
  retryAssignment
} from "../usecases/Businesses.ts"
import { convertTrial } from "../usecases/ConvertTrial.ts"
import { cancelBusiness, reactivateBusiness, releaseNow } from "../usecases/NumberLifecycle.ts"
import { requireServiceOrOperator } from "./auth.ts"
import { type Auth, anyToken, json, pathIds, route, serviceToken } from "./route.ts"

/** A service, or a person on our side (an operator token): every business, and retrying an assignment. */
const serviceOrOperatorToken: Auth<Caller> = {
  ...anyToken,
  refusals: ["Unauthenticated", "Forbidden"],
  check: (request, settings, body) =>
    anyToken.check(request, settings, body).pipe(Effect.tap(requireServiceOrOperator))
}

/** A call as its business's owner sees it (docs/ARCHITECTURE.md, "Interface"). */
const CallView = Schema.Struct({
  callId: VapiCallId,
  status: CallStatus,
  endedReason: Schema.NullOr(Schema.String),
  from: Schema.NullOr(Schema.String),
  summary: Schema.NullOr(Schema.String),
  startedAt: Schema.NullOr(Schema.DateTimeUtcFromString),
  endedAt: Schema.NullOr(Schema.DateTimeUtcFromString)
}).annotate({ identifier: "Call" })

const callView = (call: Call): typeof CallView.Type => ({
  callId: call.vapiCallId,
  status: call.status,
  endedReason: call.endedReason,
  from: call.from,
  summary: call.summary,
  startedAt: call.startedAt,
  endedAt: call.endedAt
})

const TrialAnswer = Schema.Struct({ trial: Trial })
const BusinessAnswer = Schema.Struct({ business: Business })

/** The latest instant Postgres reads (and a cursor may name): 9999-12-31T23:59:59.999Z. */
const LATEST_MILLIS = 253_402_300_799_999

/** A cursor's text once base64url is undone: `<createdAt in epoch milliseconds>.<business id>`. */
const cursorText = /^(\d{1,15})\.([^.]+)$/

const cursorFrom = (opaque: string): BusinessCursor | null => {
  const text = Buffer.from(opaque, "base64url").toString("utf8")
  // Only what we gave out: base64url is lenient about junk characters, so the text must encode back to it.
  if (Buffer.from(text, "utf8").toString("base64url") !== opaque) return null
  const [, millis, id] = cursorText.exec(text) ?? []
  const businessId = decodeIdOrNull(BusinessId)(id)
  if (millis === undefined || Number(millis) > LATEST_MILLIS || businessId === null) return null
  return { createdAt: DateTime.makeUnsafe(Number(millis)), id: businessId }
}

/** `cursor` (and `nextCursor`): opaque to callers; where a page of businesses ended. */
const PageCursor = Schema.String.annotate({
  description: "Opaque: the nextCursor of the previous page, as it was given; a malformed one is 400."
}).pipe(
  Schema.decodeTo(
    Schema.toType(Schema.Struct({ createdAt: Schema.DateTimeUtc, id: BusinessId })),
    SchemaTransformation.transformEffect({
      decode: (opaque: string, options) => {
        const cursor = cursorFrom(opaque)
        return cursor
          ? Effect.succeed(cursor)
          : Effect.fail(
              new SchemaIssue.InvalidValue(
                { expected: "the nextCursor of an earlier page, as it was given" },
                opaque,
                options
              )
            )
      },
      encode: (cursor: BusinessCursor) =>
        Effect.succeed(
          Buffer.from(`${DateTime.toEpochMillis(cursor.createdAt)}.${cursor.id}`, "utf8").toString(
            "base64url"
          )
        )
    })
  )
)

const PageLimit = Schema.String.annotate({
  description: `How many businesses a page holds at most: 1 to ${PAGE_SIZE.max} (default ${PAGE_SIZE.default}).`
})
  .check(Schema.isPattern(/^[1-9]\d{0,2}$/, { message: `an integer from 1 to ${PAGE_SIZE.max}` }))
  .pipe(
    Schema.decodeTo(
      Schema.Int.check(
        Schema.isBetween(
          { minimum: 1, maximum: PAGE_SIZE.max },
          { message: `an integer from 1 to ${PAGE_SIZE.max}` }
        )
      ),
      SchemaTransformation.numberFromString
    )
  )

/** `GET /api/businesses`' query: filters, a page size and where the page starts; each optional. */
const BusinessesQuery = Schema.Struct({
  numberStatus: Schema.optionalKey(NumberStatus),
  assistantStatus: Schema.optionalKey(AssistantStatus),
  status: Schema.optionalKey(BusinessStatus),
  limit: Schema.optionalKey(PageLimit),
  cursor: Schema.optionalKey(PageCursor)
})

const BusinessesAnswer = Schema.Struct({
  businesses: Schema.Array(Business),
  nextCursor: Schema.NullOr(PageCursor),
  counts: NumberStatusCounts
}).annotate({ identifier: "BusinessPage" })
const CallsAnswer = Schema.Struct({ calls: Schema.Array(CallView) })

const trialPath = pathIds({ id: TrialId }, () => new TrialNotFound({ trialId: "" }))
const businessPath = pathIds({ id: BusinessId }, () => new BusinessNotFound({ businessId: "" }))

export const apiRoutes = [
  route({
    method: "POST",
    path: "/api/trials",
    summary: "Create a trial (service token)",
    auth: serviceToken,
    body: json(NewTrialInput),
    answer: { schema: TrialAnswer, status: 201 },
    fails: ["RepositoryUnavailable"],
    run: ({ body }) => Effect.map(createTrial(body), (trial) => ({ trial }))
  }),
  route({
    method: "POST",
    path: "/api/trials/:id/convert",
    summary: "Convert a trial into a business; repeat calls answer the same business (service token)",
    auth: serviceToken,
    params: trialPath,
    answer: { schema: BusinessAnswer, status: 202 },
    fails: ["TrialNotFound", "RepositoryUnavailable", "JobQueueUnavailable"],
    run: ({ params }) => Effect.map(convertTrial(params.id), (business) => ({ business }))
  }),
  route({
    method: "GET",
    path: "/api/businesses",
    summary:
      "Businesses, newest first, a page at a time (limit 1-100, default 50; follow nextCursor, null on the last " +
      "page): every business for a service or operator token, the owner's own for an owner token. Filters: " +
      "numberStatus, assistantStatus, status. counts: how many have each numberStatus among all the caller sees " +
      "that match the other filters (assistantStatus, status), whatever the numberStatus filter and the page",
    auth: anyToken,
    query: BusinessesQuery,
    answer: { schema: BusinessesAnswer, status: 200 },
    fails: ["RepositoryUnavailable"],
    run: ({ caller, query }) => listBusinesses(caller, query)
  }),
  route({
    method: "GET",
    path: "/api/businesses/:id",
    summary:
      "A business with its numberStatus, number and assistantStatus (owner, service or operator token)",
    auth: anyToken,
    params: businessPath,
    answer: { schema: BusinessAnswer, status: 200 },
    fails: ["BusinessNotFound", "RepositoryUnavailable"],
    run: ({ caller, params }) => Effect.map(businessFor(caller, params.id), (business) => ({ business }))
  }),
  route({
    method: "GET",
    path: "/api/businesses/:id/calls",
    summary: "The business's recent calls (owner, service or operator token)",
    auth: anyToken,
    params: businessPath,
    answer: { schema: CallsAnswer, status: 200 },
    fails: ["BusinessNotFound", "RepositoryUnavailable"],
    run: ({ caller, params }) =>
      Effect.map(recentCallsOf(caller, params.id), (calls) => ({ calls: calls.map(callView) }))
  }),
  route({
    method: "POST",
    path: "/api/businesses/:id/assign-number",
    summary:
      "Queue a failed assignment again, or re-point an assistant that is not connected (service or operator token); 409 when assigned and connected",
    auth: serviceOrOperatorToken,
    params: businessPath,
    answer: { schema: BusinessAnswer, status: 202 },
    fails: [
      "BusinessNotFound",
      "AlreadyAssigned",
      "BusinessCancelled",
      "RepositoryUnavailable",
      "JobQueueUnavailable"
    ],
    run: ({ params }) => Effect.map(retryAssignment(params.id), (business) => ({ business }))
  }),
  route({
    method: "POST",
    path: "/api/businesses/:id/cancel",
    summary:
      "Cancel the business (service or operator token; a repeat answers it as it is): calls to its number are " +
      "rejected from now on, and the number is released at releaseAt (just before its next monthly bill, at " +
      "least RELEASE_MIN_GRACE_HOURS away; null when it has no number, whose assignment then stops)",
    auth: serviceOrOperatorToken,
    params: businessPath,
    answer: { schema: BusinessAnswer, status: 202 },
    fails: ["BusinessNotFound", "RepositoryUnavailable", "JobQueueUnavailable", "BroadcastUnavailable"],
    run: ({ params }) => Effect.map(cancelBusiness(params.id), (business) => ({ business }))
  }),
  route({
    method: "POST",
    path: "/api/businesses/:id/reactivate",
    summary:
      "Reactivate a cancelled business (service or operator token; a repeat answers it as it is): before the " +
      "release it keeps its number and calls ring through again; after it, a new number is assigned (pending)",
    auth: serviceOrOperatorToken,
    params: businessPath,
    answer: { schema: BusinessAnswer, status: 202 },
    fails: [
      "BusinessNotFound",
      "RepositoryUnavailable",
      "JobQueueUnavailable",
      "BroadcastUnavailable",
      "ReleaseSettling",
      "TelephonyRateLimited",
      "TelephonyUnavailable",
      "TelephonyRejected"
    ],
    run: ({ params }) => Effect.map(reactivateBusiness(params.id), (business) => ({ business }))
  }),
  route({
    method: "POST",
    path: "/api/businesses/:id/release",
    summary:
      "Release a cancelled business's number now rather than at releaseAt (service or operator token): " +
      "queued at once, done within seconds; 409 for an active business",
    auth: serviceOrOperatorToken,
    params: businessPath,
    answer: { schema: BusinessAnswer, status: 202 },
    fails: ["BusinessNotFound", "BusinessActive", "RepositoryUnavailable", "JobQueueUnavailable"],
    run: ({ params }) => Effect.map(releaseNow(params.id), (business) => ({ business }))
  })
]
