// Small factories for tests: a trial, and a business converted from it.
import { Effect } from "effect"
import type { AssistantId } from "../../src/domain/ids.ts"
import { type NewTrial, Repository } from "../../src/ports/Repository.ts"

let serial = 0

export const newTrial = (overrides: Partial<NewTrial> = {}): NewTrial => {
  serial++
  return {
    ownerEmail: `owner${serial}@example.com`,
    ownerName: `Owner ${serial}`,
    businessName: `Business ${serial}`,
    vapiAssistantId: `asst-${serial}` as AssistantId,
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
