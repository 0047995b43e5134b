// The JSON API: trials, conversion, businesses, and re-queueing an assignment. Each route translates HTTP to a
// use case and back (route.ts); the use cases decide.
import { Effect, Schema } from "effect"
import { Business, type Call, CallStatus, Trial } from "../../domain/entities.ts"
import { BusinessNotFound, TrialNotFound } from "../../domain/errors.ts"
import { BusinessId, TrialId, VapiCallId } from "../../domain/ids.ts"
import { Repository } from "../../ports/Repository.ts"
import {
  businessFor,
  createTrial,
  NewTrialInput,
  recentCallsOf,
  retryAssignment
} from "../usecases/Businesses.ts"
import { convertTrial } from "../usecases/ConvertTrial.ts"
import { anyToken, json, pathIds, route, serviceToken } from "./route.ts"

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
const BusinessesAnswer = Schema.Struct({ businesses: Schema.Array(Business) })
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
    summary: "The owner's businesses (owner token; none for a service token)",
    auth: anyToken,
    answer: { schema: BusinessesAnswer, status: 200 },
    fails: ["RepositoryUnavailable"],
    run: ({ caller }) =>
      caller.role === "owner"
        ? Effect.map(
            Repository.use((r) => r.businessesOf(caller.userId)),
            (businesses) => ({ businesses })
          )
        : Effect.succeed({ businesses: [] })
  }),
  route({
    method: "GET",
    path: "/api/businesses/:id",
    summary: "A business with its numberStatus, number and assistantStatus (owner or service token)",
    auth: anyToken,
    params: businessPath,
    answer: { schema: BusinessAnswer, status: 200 },
    fails: ["BusinessNotFound", "RepositoryUnavailable"],
    run: ({ caller, params }) => Effect.map(businessFor(caller, params.id), (business) => ({ business }))
  }),
  route({
    method: "GET",
    path: "/api/businesses/:id/calls",
    summary: "The business's recent calls (owner or service token)",
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
      "Queue a failed assignment again, or re-point an assistant that is not connected (service token); 409 when assigned and connected",
    auth: serviceToken,
    params: businessPath,
    answer: { schema: BusinessAnswer, status: 202 },
    fails: ["BusinessNotFound", "AlreadyAssigned", "RepositoryUnavailable", "JobQueueUnavailable"],
    run: ({ params }) => Effect.map(retryAssignment(params.id), (business) => ({ business }))
  })
]
