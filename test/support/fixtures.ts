// Small factories for tests: a trial, and a business converted from it.
import { DateTime, Effect, Schema } from "effect"
import { Business, PhoneNumber, User } from "../../src/domain/entities.ts"
import { AssistantId, BusinessId, TrialId } from "../../src/domain/ids.ts"
import { type NewTrial, Repository } from "../../src/ports/Repository.ts"

let serial = 0

export const newTrial = (overrides: Partial<NewTrial> = {}): NewTrial => {
  serial++
  return {
    ownerEmail: `owner${serial}@example.com`,
    ownerName: `Owner ${serial}`,
    businessName: `Business ${serial}`,
    vapiAssistantId: AssistantId.make(`asst-${serial}`),
    requestedAreaCode: null,
    ...overrides
  }
}

/** A converted business (no job queued: tests run the assignment themselves). */
export const givenBusiness = (overrides: Partial<NewTrial> = {}) =>
  Effect.gen(function* () {
    const repo = yield* Repository
    const trial = yield* repo.createTrial(newTrial(overrides))
    const { business } = yield* repo.convertTrial(trial.id)
    return business
  })

/** An owner and their assigned business with its number, as values (no repository): for rendering tests. */
export const assignedBusinessValues = (businessName: string, ownerName = "Joe") => {
  const owner = Schema.decodeSync(User)({
    id: "00000000-0000-4000-8000-0000000000a1",
    email: "joe@example.com",
    name: ownerName
  })
  const number = Schema.decodeSync(PhoneNumber)({
    e164: "+14155550123",
    areaCode: "415",
    twilioSid: `PN${"0".repeat(32)}`,
    dateCreated: "2026-10-31T09:30:00.000Z"
  })
  const business = new Business({
    id: Schema.decodeSync(BusinessId)("00000000-0000-4000-8000-0000000000b1"),
    ownerId: owner.id,
    name: businessName,
    vapiAssistantId: Schema.decodeSync(AssistantId)("a1"),
    requestedAreaCode: "415",
    trialId: Schema.decodeSync(TrialId)("00000000-0000-4000-8000-0000000000c1"),
    status: "active",
    releaseAt: null,
    numberStatus: "assigned",
    phoneNumber: number,
    assistantStatus: "connected",
    failureReason: null,
    createdAt: DateTime.makeUnsafe("2026-11-01T00:00:00Z"),
    updatedAt: DateTime.makeUnsafe("2026-11-01T00:00:00Z")
  })
  return { owner, business, number }
}
