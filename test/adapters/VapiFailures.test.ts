// The Vapi adapter when Vapi does not answer, cannot be reached or fails: the port's errors, in time, and a
// POST /call that may have reached Vapi never sent again. Real HTTP on loopback (Bun.serve), the real adapter.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import * as VapiAssistant from "../../src/adapters/vapi/VapiAssistant.ts"
import type { AssistantId } from "../../src/domain/ids.ts"
import { Assistant } from "../../src/ports/Assistant.ts"

const CALL = {
  assistantId: "5f0a2c1e-7b3d-4c1a-9e2f-000000000001" as AssistantId,
  callSid: "CA0123456789abcdef0123456789abcdef",
  from: "+14155550100",
  to: "+14155551000"
}

const TIME_LIMIT_MILLIS = 300

/** A local Vapi answering each request with `answer`, counting what it was sent; stopped with the scope. */
const localVapi = (answer: (request: Request) => Promise<Response>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const requests: Array<string> = []
      const server = Bun.serve({
        port: 0,
        fetch: (request) => {
          requests.push(`${request.method} ${new URL(request.url).pathname}`)
          return answer(request)
        }
      })
      return { url: `http://127.0.0.1:${server.port}`, requests, server }
    }),
    ({ server }) => Effect.promise(() => server.stop(true))
  )

/** How `startInboundCall` failed, on the adapter pointed at `apiUrl` (a success fails the test). */
const startCallOn = (apiUrl: string) =>
  Assistant.use((assistant) => Effect.flip(assistant.startInboundCall(CALL))).pipe(
    Effect.provide(
      VapiAssistant.layer({
        apiKey: Redacted.make("vapi-key"),
        apiUrl,
        twilio: Option.some({ accountSid: `AC${"0".repeat(32)}`, authToken: Redacted.make("twilio-token") }),
        timeout: `${TIME_LIMIT_MILLIS} millis`
      })
    )
  )

describe("Vapi adapter, Vapi failing", () => {
  it.live("no answer: AssistantUnavailable once its time limit is spent; the POST /call sent once", () =>
    Effect.gen(function* () {
      const vapi = yield* localVapi(() => new Promise<Response>(() => {}))
      const started = Date.now()
      const error = yield* startCallOn(vapi.url)
      const waited = Date.now() - started
      assert.deepStrictEqual(
        [error._tag, error.message],
        ["AssistantUnavailable", "start call: Vapi did not answer in time"]
      )
      assert.isAtLeast(waited, TIME_LIMIT_MILLIS - 20)
      assert.isBelow(waited, 5_000, "the time limit, not some later one, ended the wait")
      assert.deepStrictEqual(vapi.requests, ["POST /call"])
    }).pipe(Effect.scoped)
  )

  it.live(
    "a 5xx: AssistantUnavailable naming the status, and not sent again (it may have reached Vapi)",
    () =>
      Effect.gen(function* () {
        const vapi = yield* localVapi(async () =>
          Response.json({ message: "Internal server error" }, { status: 503 })
        )
        const error = yield* startCallOn(vapi.url)
        assert.deepStrictEqual([error._tag, error.message], ["AssistantUnavailable", "start call: HTTP 503"])
        assert.deepStrictEqual(vapi.requests, ["POST /call"])
      }).pipe(Effect.scoped)
  )

  it.live("nothing listening: AssistantUnavailable saying the connection failed", () =>
    Effect.gen(function* () {
      // Port 1: privileged and unused, so the connection is refused (a free port found now could be taken).
      const error = yield* startCallOn("http://127.0.0.1:1")
      assert.deepStrictEqual(
        [error._tag, error.message],
        ["AssistantUnavailable", "start call: the connection to Vapi failed"]
      )
    })
  )

  it.live(
    "an answer without TwiML, or with an empty one: AssistantUnavailable, never an empty TwiML for Twilio",
    () =>
      Effect.gen(function* () {
        for (const details of [{}, { twiml: "" }]) {
          const vapi = yield* localVapi(async () =>
            Response.json({ id: "call-1", phoneCallProviderDetails: details }, { status: 201 })
          )
          const error = yield* startCallOn(vapi.url)
          assert.deepStrictEqual(
            [error._tag, error.message],
            ["AssistantUnavailable", "start call: Vapi's answer had no TwiML"],
            JSON.stringify(details)
          )
        }
      }).pipe(Effect.scoped)
  )
})
