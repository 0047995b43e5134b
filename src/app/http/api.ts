// The JSON API: trials, conversion, businesses, and re-queueing an assignment. Handlers translate HTTP to use
// cases and back; the use cases decide.
import { Effect } from "effect"
import { Elysia } from "elysia"
import type { Business, Call, Trial } from "../../domain/entities.ts"
import { BusinessNotFound, TrialNotFound } from "../../domain/errors.ts"
import { BusinessId, TrialId } from "../../domain/ids.ts"
import { Repository } from "../../ports/Repository.ts"
import { bearer, requireService, verifyToken } from "../auth.ts"
import { businessFor, createTrial, NewTrialInput, recentCallsOf, retryAssignment } from "../Businesses.ts"
import { convertTrial } from "../ConvertTrial.ts"
import { decodeBody, decodeIdOr, readJson, respond } from "./respond.ts"
import type { Run } from "./run.ts"
import type { HttpServices, HttpSettings } from "./services.ts"

/** The JSON forms of the contract (docs/ARCHITECTURE.md, "Interface"). */
export const trialJson = (trial: Trial) => ({
  id: trial.id,
  ownerId: trial.ownerId,
  ownerEmail: trial.ownerEmail,
  businessName: trial.businessName,
  vapiAssistantId: trial.vapiAssistantId,
  requestedAreaCode: trial.requestedAreaCode,
  status: trial.status,
  businessId: trial.businessId
})

export const businessJson = (business: Business) => ({
  id: business.id,
  ownerId: business.ownerId,
  name: business.name,
  vapiAssistantId: business.vapiAssistantId,
  requestedAreaCode: business.requestedAreaCode,
  trialId: business.trialId,
  numberStatus: business.numberStatus,
  assistantStatus: business.assistantStatus,
  phoneNumber: business.phoneNumber
    ? {
        e164: business.phoneNumber.e164,
        areaCode: business.phoneNumber.areaCode,
        twilioSid: business.phoneNumber.twilioSid
      }
    : null,
  failureReason: business.failureReason,
  createdAt: business.createdAt.toJSON()
})

const callJson = (call: Call) => ({
  callId: call.vapiCallId,
  status: call.status,
  endedReason: call.endedReason,
  from: call.from,
  summary: call.summary,
  startedAt: call.startedAt?.toJSON() ?? null,
  endedAt: call.endedAt?.toJSON() ?? null
})

const trialIdOf = decodeIdOr(TrialId, () => new TrialNotFound({ trialId: "" }))
const businessIdOf = decodeIdOr(BusinessId, () => new BusinessNotFound({ businessId: "" }))

export const apiRoutes = (run: Run<HttpServices>, settings: HttpSettings) => {
  const caller = (request: Request) =>
    verifyToken(settings.authSecret, bearer(request.headers.get("authorization")))
  const service = (request: Request) => Effect.flatMap(caller(request), requireService)

  return new Elysia({ name: "api", prefix: "/api" })
    .post(
      "/trials",
      ({ request }) =>
        respond(
          run,
          request,
          Effect.gen(function* () {
            yield* service(request)
            const input = yield* Effect.flatMap(readJson(request), decodeBody(NewTrialInput))
            const trial = yield* createTrial(input)
            return Response.json({ trial: trialJson(trial) }, { status: 201 })
          })
        ),
      { parse: "none" }
    )
    .post(
      "/trials/:id/convert",
      ({ request, params }) =>
        respond(
          run,
          request,
          Effect.gen(function* () {
            yield* service(request)
            const business = yield* convertTrial(yield* trialIdOf(params.id))
            return Response.json({ business: businessJson(business) }, { status: 202 })
          })
        ),
      { parse: "none" }
    )
    .get("/businesses", ({ request }) =>
      respond(
        run,
        request,
        Effect.gen(function* () {
          const who = yield* caller(request)
          if (who.role !== "owner") return Response.json({ businesses: [] })
          const businesses = yield* Repository.use((r) => r.businessesOf(who.userId))
          return Response.json({ businesses: businesses.map(businessJson) })
        })
      )
    )
    .get("/businesses/:id", ({ request, params }) =>
      respond(
        run,
        request,
        Effect.gen(function* () {
          const business = yield* businessFor(yield* caller(request), yield* businessIdOf(params.id))
          return Response.json({ business: businessJson(business) })
        })
      )
    )
    .get("/businesses/:id/calls", ({ request, params }) =>
      respond(
        run,
        request,
        Effect.gen(function* () {
          const calls = yield* recentCallsOf(yield* caller(request), yield* businessIdOf(params.id))
          return Response.json({ calls: calls.map(callJson) })
        })
      )
    )
    .post(
      "/businesses/:id/assign-number",
      ({ request, params }) =>
        respond(
          run,
          request,
          Effect.gen(function* () {
            yield* service(request)
            const business = yield* retryAssignment(yield* businessIdOf(params.id))
            return Response.json({ business: businessJson(business) }, { status: 202 })
          })
        ),
      { parse: "none" }
    )
}
