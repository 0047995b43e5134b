// A call to a business's number is handed to its assistant; whatever is missing or failing, the caller hears
// the apology, and in time: Twilio gives up on a webhook after 15 s, so a Vapi that does not answer must not
// hold the call past the use case's budget (8 s).
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { memoryLayer } from "../../../src/app/layers/memory.ts"
import { assignNumber } from "../../../src/app/usecases/AssignNumber.ts"
import { APOLOGY_TWIML, inboundCall } from "../../../src/app/usecases/InboundCall.ts"
import { Assistant } from "../../../src/ports/Assistant.ts"
import { Repository } from "../../../src/ports/Repository.ts"
import { givenBusiness } from "../../support/fixtures.ts"

const withMemory = Effect.provide(
  memoryLayer({ settings: { appUrl: "https://numbers.test", vapiWebhookSecret: Redacted.make("secret") } })
)

/** A business with its number, and the call Twilio would send for it. */
const assignedCall = Effect.gen(function* () {
  const { id } = yield* givenBusiness()
  yield* assignNumber(id)
  const business = yield* Repository.use((r) => r.findBusiness(id))
  const e164 = business?.phoneNumber?.e164
  if (e164 === undefined) return yield* Effect.die(new Error("no number assigned"))
  return { businessId: id, callSid: "CA0123456789abcdef0123456789abcdef", from: "+14155550100", to: e164 }
})

describe("inbound call", () => {
  it.effect("Vapi not answering: the apology once the 8 s budget is spent, not before", () =>
    Effect.gen(function* () {
      const call = yield* assignedCall
      const reached = yield* Deferred.make<void>()
      const silent = Assistant.of({
        setServer: () => Effect.void,
        startInboundCall: () => Deferred.succeed(reached, undefined).pipe(Effect.andThen(Effect.never))
      })
      const answer = yield* inboundCall(call).pipe(Effect.provideService(Assistant, silent), Effect.forkChild)
      yield* Deferred.await(reached)
      yield* TestClock.adjust("7999 millis")
      assert.isUndefined(answer.pollUnsafe(), "still waiting on Vapi inside the budget")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Fiber.join(answer), APOLOGY_TWIML)
    }).pipe(withMemory)
  )

  it.effect("Vapi answering: its TwiML, for the business's own number only", () =>
    Effect.gen(function* () {
      const call = yield* assignedCall
      const handed = yield* inboundCall(call)
      assert.notStrictEqual(handed, APOLOGY_TWIML)
      assert.include(handed, "<Connect>")
      assert.strictEqual(yield* inboundCall({ ...call, to: "+19998887777" }), APOLOGY_TWIML)
    }).pipe(withMemory)
  )
})
