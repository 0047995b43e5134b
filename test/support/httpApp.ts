// The Elysia app on in-memory layers (a ManagedRuntime), with jobs running, tokens, and a request helper.
import { Effect, ManagedRuntime, Redacted, Scope } from "effect"
import { MemoryJobQueueControl } from "../../src/adapters/memory/MemoryJobQueue.ts"
import { makeApp } from "../../src/app/http/app.ts"
import { signToken } from "../../src/app/http/auth.ts"
import { openSockets } from "../../src/app/http/cable.ts"
import type { HttpSettings } from "../../src/app/http/services.ts"
import { type MemoryOptions, memoryLayer } from "../../src/app/layers/memory.ts"
import { jobHandlers } from "../../src/app/usecases/jobHandlers.ts"
import { JobQueue } from "../../src/ports/JobQueue.ts"

/** JSON as tests read it: assertions check the shape, so the type stays loose here, and only here. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by assertions, not by types
export type JsonObject = Record<string, any>

export const SETTINGS: HttpSettings = {
  appUrl: "https://numbers.example.com",
  authSecret: Redacted.make("test-auth-secret"),
  vapiWebhookSecret: Redacted.make("test-vapi-secret"),
  twilioAuthToken: Redacted.make("test-twilio-token")
}

export const makeTestApp = async (options: MemoryOptions = {}) => {
  const runtime = ManagedRuntime.make(
    memoryLayer({
      telephony: { defaultStock: 50 },
      jobs: { retryBase: "50 millis", retryBudget: "2 seconds" },
      ...options,
      settings: {
        appUrl: SETTINGS.appUrl,
        vapiWebhookSecret: SETTINGS.vapiWebhookSecret,
        ...options.settings
      }
    })
  )
  const scope = await runtime.runPromise(Scope.make())
  await runtime.runPromise(
    JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work)).pipe(Scope.provide(scope))
  )
  // The cable's state, shared by the app's socket route and the relay a test runs (relayEvents(sockets, ...)).
  const sockets = openSockets()
  const app = makeApp(runtime.runPromise, SETTINGS, sockets)
  const sign = (claims: Parameters<typeof signToken>[1], expiresIn?: string) =>
    Effect.runPromise(signToken(SETTINGS.authSecret, claims, expiresIn))
  const service = await sign({ role: "service" })
  const call = async (
    method: string,
    path: string,
    options: {
      readonly token?: string | null
      readonly body?: unknown
      readonly headers?: Record<string, string>
    } = {}
  ) => {
    const headers = new Headers(options.headers)
    const token = options.token === undefined ? service : options.token
    if (token) headers.set("authorization", `Bearer ${token}`)
    let body: string | undefined
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body)
      if (!headers.has("content-type")) headers.set("content-type", "application/json")
    }
    const response = await app.handle(
      new Request(`http://localhost${path}`, { method, headers, body: body ?? null })
    )
    const text = await response.text()
    let json: unknown = null
    try {
      json = JSON.parse(text)
    } catch {}
    return { status: response.status, json: json as JsonObject, text, headers: response.headers }
  }
  return {
    app,
    sockets,
    runtime,
    service,
    sign,
    call,
    run: runtime.runPromise,
    /** Resolves once no job is queued or running: what a conversion or a retry queued has run. */
    jobsDone: () => runtime.runPromise(MemoryJobQueueControl.use((jobs) => jobs.awaitIdle)),
    close: async () => {
      await runtime.runPromise(Scope.close(scope, { _tag: "Success", value: undefined } as never))
      await runtime.dispose()
    }
  }
}

export const trialBody = (overrides: Record<string, unknown> = {}) => ({
  ownerEmail: `owner-${crypto.randomUUID()}@example.com`,
  ownerName: "Sam Owner",
  businessName: "Golden Gate Dental",
  vapiAssistantId: `asst-${crypto.randomUUID()}`,
  requestedAreaCode: "415",
  ...overrides
})
