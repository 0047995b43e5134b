// Every request the adapters make on the cassettes (what they send to Twilio and Vapi) is checked against the
// providers' official OpenAPI documents in test/fixtures/specs, and so are the recorded success bodies.
import { readdirSync, readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import JSON5 from "json5"
import { conformance, type Interaction, type OpenApi } from "../support/openapi.ts"

// Copies of the published specs, with their sources and dates (test/fixtures/specs/README.md).
const reference = resolve(import.meta.dirname, "../fixtures/specs")
const cassettes = resolve(import.meta.dirname, "../cassettes")

const tapes = (provider: string): Array<{ readonly name: string; readonly interaction: Interaction }> =>
  readdirSync(join(cassettes, provider)).flatMap((cassette) =>
    readdirSync(join(cassettes, provider, cassette)).map((file) => {
      const tape = JSON5.parse(readFileSync(join(cassettes, provider, cassette, file), "utf8"))
      const contentType = String(tape.req.headers["content-type"] ?? "").split(";")[0] ?? ""
      return {
        name: `${cassette}/${file}`,
        interaction: {
          method: tape.req.method,
          url: tape.req.url,
          contentType,
          body: tape.req.body,
          status: tape.res.status,
          response: tape.res.body
        }
      }
    })
  )

const load = (file: string): OpenApi => JSON.parse(readFileSync(join(reference, file), "utf8"))

describe("requests conform to the providers' OpenAPI specs", () => {
  it("Twilio (twilio_api_v2010.json): paths, methods, query and form field names, response fields", () => {
    const spec = load("twilio_api_v2010.json")
    const all = tapes("twilio")
    assert.isAtLeast(all.length, 15)
    for (const { name, interaction } of all) assert.deepStrictEqual(conformance(spec, interaction), [], name)
    console.log(`spec conformance: ${all.length} Twilio interactions checked`)
  })

  it("Vapi (vapi_openapi.json): paths, methods and JSON body fields", () => {
    const spec = load("vapi_openapi.json")
    const all = tapes("vapi")
    assert.isAtLeast(all.length, 3)
    // Handing a Twilio call to Vapi uses the provider bypass, documented in Vapi's guides but absent from the
    // published spec (docs/PROVIDERS.md, "Handing a call to Vapi"): its request flag and its answer's TwiML
    // are the only fields let through.
    const allowed = [".phoneCallProviderBypassEnabled", "response .phoneCallProviderDetails"]
    for (const { name, interaction } of all)
      assert.deepStrictEqual(conformance(spec, interaction, allowed), [], name)
    console.log(`spec conformance: ${all.length} Vapi interactions checked`)
  })

  it("the checker itself catches fields a spec does not define", () => {
    const spec = load("vapi_openapi.json")
    const stale: Interaction = {
      method: "PATCH",
      url: "/assistant/5f0a2c1e-7b3d-4c1a-9e2f-000000000001",
      contentType: "application/json",
      body: {
        serverUrl: "https://old.example.com",
        server: { url: "https://x.example.com", secret: "gone" }
      },
      status: 400,
      response: null
    }
    assert.deepStrictEqual(conformance(spec, stale), [".serverUrl", ".server.secret"])
    const twilio = load("twilio_api_v2010.json")
    const wrongField: Interaction = {
      method: "POST",
      url: "/2010-04-01/Accounts/AC00000000000000000000000000000000/IncomingPhoneNumbers.json",
      contentType: "application/x-www-form-urlencoded",
      body: "AreaCode=415&VoiceURL=https%3A%2F%2Fx",
      status: 400,
      response: null
    }
    assert.deepStrictEqual(conformance(twilio, wrongField), [".VoiceURL"])
  })
})
