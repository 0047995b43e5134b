// The Assistant contract: the same cases against the in-memory fake and the Vapi adapter replaying
// test/cassettes/vapi. A request no tape matches, or a tape left unused, fails the case.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as MemoryAssistant from "../../src/adapters/memory/MemoryAssistant.ts"
import * as VapiAssistant from "../../src/adapters/vapi/VapiAssistant.ts"
import type { AssistantId } from "../../src/domain/ids.ts"
import { Assistant } from "../../src/ports/Assistant.ts"
import { openCassette, PLACEHOLDERS } from "../support/cassettes.ts"
import { startFakeVapi } from "../support/fakeVapi.ts"

const KNOWN = "5f0a2c1e-7b3d-4c1a-9e2f-000000000001" as AssistantId
const UNKNOWN = "5f0a2c1e-7b3d-4c1a-9e2f-0000000000ff" as AssistantId
const SERVER_URL =
  "https://numbers.example.com/webhooks/vapi?business_id=00000000-0000-4000-8000-000000000003"
const CALL = {
  assistantId: KNOWN,
  callSid: "CA0123456789abcdef0123456789abcdef",
  from: "+14155550100",
  to: "+14155551000"
}

interface Case {
  readonly cassette: string
  /**
   * Recorded against the local Vapi even when VAPI_API_KEY is set: it needs the assistant KNOWN, which exists
   * only there (and the provider bypass, a live Twilio call as well).
   */
  readonly localOnly: boolean
  readonly run: Effect.Effect<void, unknown, Assistant>
}

const cases: ReadonlyArray<Case> = [
  {
    cassette: "update_assistant_webhook_url",
    localOnly: true,
    run: Effect.gen(function* () {
      const assistant = yield* Assistant
      const result = yield* Effect.result(
        assistant.setServer(KNOWN, { url: SERVER_URL, secret: Redacted.make(PLACEHOLDERS.vapiWebhookSecret) })
      )
      assert.strictEqual(result._tag, "Success")
    })
  },
  {
    cassette: "inbound_call_bypass",
    localOnly: true,
    run: Effect.gen(function* () {
      const twiml = yield* (yield* Assistant).startInboundCall(CALL).pipe(Effect.orDie)
      assert.match(
        twiml,
        /^<\?xml version="1.0" encoding="UTF-8"\?><Response><Connect><Stream url="wss:\/\/[^"]+"\/><\/Connect><\/Response>$/
      )
    })
  },
  {
    cassette: "assistant_not_found",
    localOnly: false,
    run: Effect.gen(function* () {
      const error = yield* Effect.flip(
        (yield* Assistant).setServer(UNKNOWN, {
          url: SERVER_URL,
          secret: Redacted.make(PLACEHOLDERS.vapiWebhookSecret)
        })
      )
      assert.deepStrictEqual(
        [error._tag, "assistantId" in error && error.assistantId],
        ["AssistantNotFound", UNKNOWN]
      )
    })
  }
]

describe("Assistant contract", () => {
  for (const testCase of cases) {
    describe(testCase.cassette, () => {
      it.effect("the in-memory Assistant", () =>
        Effect.gen(function* () {
          yield* MemoryAssistant.MemoryAssistantControl.use((a) => a.addAssistant(KNOWN))
          yield* testCase.run
        }).pipe(Effect.provide(MemoryAssistant.layer({ knownOnly: true })))
      )

      it.effect("the Vapi adapter on the cassette", () =>
        Effect.gen(function* () {
          const local = startFakeVapi({ assistants: [KNOWN] })
          const cassette = yield* Effect.acquireRelease(
            Effect.promise(() =>
              openCassette(
                "vapi",
                testCase.cassette,
                { url: local.url, credentials: { vapiApiKey: local.apiKey } },
                { localOnly: testCase.localOnly }
              )
            ),
            (c) => Effect.promise(() => c.close()).pipe(Effect.andThen(Effect.sync(() => local.stop())))
          )
          yield* testCase.run.pipe(
            Effect.provide(
              VapiAssistant.layer({
                apiKey: Redacted.make(cassette.credentials.vapiApiKey),
                apiUrl: cassette.url,
                twilio: Option.some({
                  accountSid: cassette.credentials.twilioAccountSid,
                  authToken: Redacted.make(cassette.credentials.twilioAuthToken)
                })
              })
            )
          )
          assert.deepStrictEqual(cassette.misses(), [], "every request matched a recorded one")
          assert.deepStrictEqual(cassette.unused(), [], "every recorded interaction was used")
        }).pipe(Effect.scoped, TestClock.withLive)
      )
    })
  }
})
