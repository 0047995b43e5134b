// Cassettes: recorded request/response pairs (talkback tapes, one JSON5 file per interaction) replayed by a
// local HTTP server that the real adapters talk to. In a test, any request no tape matches, and any tape
// left unused, fails it. Identical requests replay in order: each carries `x-cassette-seq`, its count.
//
// CASSETTE_MODE=record re-records a cassette: against the real API when its credentials are set
// (TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN, or VAPI_API_KEY), else against the local fakes in test/support.
// A scenario only a fake can stage (a 500, a 429, an empty area code) is recorded against it either way.
// Account ids, tokens and secrets are replaced by the placeholders below before anything is written, and a
// tape keeps only the headers named in TAPE_HEADERS.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import talkback from "talkback/es6"
import { freePort } from "./processes.ts"

export type Provider = "twilio" | "vapi"

/** What replayed requests carry instead of real credentials (and what recordings are scrubbed to). */
export const PLACEHOLDERS = {
  twilioAccountSid: "AC00000000000000000000000000000000",
  twilioAuthToken: "twilio-auth-token-placeholder",
  vapiApiKey: "vapi-api-key-placeholder",
  vapiWebhookSecret: "vapi-webhook-secret-placeholder"
} as const

export interface Credentials {
  readonly twilioAccountSid: string
  readonly twilioAuthToken: string
  readonly vapiApiKey: string
  readonly vapiWebhookSecret: string
}

export interface Cassette {
  /** Base URL to point the adapter at. */
  readonly url: string
  /** The credentials the adapter must use: placeholders when replaying. */
  readonly credentials: Credentials
  /**
   * When recording, the API the requests go to (the real one or the local fake), for a scenario's own setup
   * and clean-up calls, which are made there directly and never taped; null when replaying.
   */
  readonly upstream: string | null
  /** Requests that matched no tape. */
  readonly misses: () => ReadonlyArray<string>
  /** Tapes no request used. */
  readonly unused: () => ReadonlyArray<string>
  readonly close: () => Promise<void>
}

const root = resolve(import.meta.dirname, "../cassettes")

const realApi: Record<Provider, string> = { twilio: "https://api.twilio.com", vapi: "https://api.vapi.ai" }

/** Where recordings come from when no real credentials are given, and what their bodies follow. */
const localSource: Record<Provider, string> = {
  twilio:
    "the local Twilio in test/support/fakeTwilio.ts, whose bodies have the shapes of " +
    "test/fixtures/specs/twilio_api_v2010.json (CreateIncomingPhoneNumber, ListIncomingPhoneNumber, " +
    "UpdateIncomingPhoneNumber, ListAvailablePhoneNumberLocal) and whose errors are the ones Twilio documents (docs/PROVIDERS.md)",
  vapi:
    "the local Vapi in test/support/fakeVapi.ts, whose bodies have the shapes of " +
    "test/fixtures/specs/vapi_openapi.json (Assistant, Call) and whose errors are Vapi's NestJS error " +
    "bodies (docs/PROVIDERS.md)"
}

/**
 * The only headers a tape keeps (and, for requests, matches on): credentials and provider request ids never
 * reach a tape. `x-cassette-seq` counts identical requests; `retry-after` is what a 429 replays with.
 */
export const TAPE_HEADERS = {
  request: ["content-type", "x-cassette-seq"],
  response: ["content-type", "content-encoding", "retry-after"]
} as const

const keepHeaders = (headers: Record<string, unknown>, keep: ReadonlyArray<string>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => keep.includes(name.toLowerCase())))

/**
 * Opens a cassette; `fake` is where to record when no real credentials are given, and always when the
 * scenario is `localOnly` (a situation the real API cannot be made to produce on demand).
 */
export const openCassette = async (
  provider: Provider,
  name: string,
  fake: { readonly url: string; readonly credentials: Partial<Credentials> },
  options: { readonly localOnly?: boolean } = {}
): Promise<Cassette> => {
  const path = join(root, provider, name)
  const recording = process.env.CASSETTE_MODE === "record"
  const real = options.localOnly
    ? null
    : provider === "twilio"
      ? process.env.TWILIO_ACCOUNT_SID && process.env.TWILIO_AUTH_TOKEN
        ? { twilioAccountSid: process.env.TWILIO_ACCOUNT_SID, twilioAuthToken: process.env.TWILIO_AUTH_TOKEN }
        : null
      : process.env.VAPI_API_KEY
        ? { vapiApiKey: process.env.VAPI_API_KEY }
        : null
  const credentials: Credentials = !recording
    ? PLACEHOLDERS
    : { ...PLACEHOLDERS, ...fake.credentials, ...(real ?? {}) }
  // Every value that must not reach a tape, with what replaces it.
  const scrubs = Object.entries(credentials)
    .map(([key, value]) => [value, PLACEHOLDERS[key as keyof typeof PLACEHOLDERS]] as const)
    .filter(([value, placeholder]) => value !== placeholder)
  const scrub = (text: string) =>
    scrubs.reduce((t, [value, placeholder]) => t.replaceAll(value, placeholder), text)

  if (recording) rmSync(path, { recursive: true, force: true })
  const seen = new Map<string, number>()
  let recorded = 0
  const misses: Array<string> = []
  const port = freePort()
  const upstream = recording ? (real ? realApi[provider] : fake.url) : null
  const server = talkback({
    host: upstream ?? "http://127.0.0.1:9",
    path: `${path}/`,
    port,
    record: recording ? talkback.Options.RecordMode.OVERWRITE : talkback.Options.RecordMode.DISABLED,
    silent: true,
    summary: false,
    // Only these request headers are kept and matched: credentials never reach a tape.
    allowHeaders: [...TAPE_HEADERS.request],
    requestDecorator: (req) => {
      const key = `${req.method} ${req.url} ${req.body?.toString("base64") ?? ""}`
      const count = (seen.get(key) ?? 0) + 1
      seen.set(key, count)
      req.headers["x-cassette-seq"] = String(count)
      // Plain bodies, so that the scrubbing below can read them.
      req.headers["accept-encoding"] = "identity"
      return req
    },
    tapeNameGenerator: (_id, tape) =>
      `${String(++recorded).padStart(2, "0")}-${tape.req.method.toLowerCase()}`,
    tapeDecorator: (tape) => {
      tape.req.url = scrub(tape.req.url)
      if (tape.req.body) tape.req.body = Buffer.from(scrub(tape.req.body.toString()))
      if (tape.res?.body) tape.res.body = Buffer.from(scrub(tape.res.body.toString()))
      if (tape.res) tape.res.headers = keepHeaders(tape.res.headers, TAPE_HEADERS.response)
      return tape
    },
    fallbackMode: (req) => {
      misses.push(`${req.method} ${req.url}`)
      return talkback.Options.FallbackMode.NOT_FOUND
    }
  })
  await server.start()
  return {
    url: `http://127.0.0.1:${port}`,
    credentials,
    upstream,
    misses: () => [...misses],
    // talkback marks each tape it matched; its store is the one place that knows.
    unused: () =>
      (server as unknown as { tapeStore: { tapes: Array<{ path: string; used?: boolean }> } }).tapeStore.tapes
        .filter((tape) => !tape.used)
        .map((tape) => tape.path),
    close: async () => {
      server.close()
      if (recording) annotate(path, real ? realApi[provider] : localSource[provider])
    }
  }
}

const tapesIn = (path: string): Array<string> =>
  existsSync(path)
    ? readdirSync(path)
        .filter((f) => f.endsWith(".json5"))
        .sort()
        .map((f) => join(path, f))
    : []

/** After recording: form bodies made readable, and a header saying where the tape came from. */
const annotate = (path: string, source: string) => {
  for (const file of tapesIn(path)) {
    let text = readFileSync(file, "utf8")
    if (text.includes("application/x-www-form-urlencoded") && !text.includes("reqHumanReadable")) {
      text = text
        .replace(
          /body: '([A-Za-z0-9+/=]+)',\n(\s+)\},\n(\s+)res:/,
          (_all, b64: string, indent: string, resIndent: string) =>
            `body: ${JSON.stringify(Buffer.from(b64, "base64").toString())},\n${indent}},\n${resIndent}res:`
        )
        .replace("meta: {", "meta: {\n        reqHumanReadable: true,")
    }
    writeFileSync(
      file,
      `// Recorded with CASSETTE_MODE=record against ${source}; credentials scrubbed to placeholders.\n${text}`
    )
  }
}
