// In-memory Assistant: known assistants, their server settings, injectable faults and a log of calls.
import { Context, type Duration, Effect, Layer, Redacted, Ref } from "effect"
import type { AssistantId } from "../../domain/ids.ts"
import {
  Assistant,
  type AssistantError,
  AssistantNotFound,
  AssistantRejected,
  AssistantUnavailable,
  type InboundCall,
  type ServerSettings
} from "../../ports/Assistant.ts"

export type AssistantFault = { readonly _tag: "unavailable" } | { readonly _tag: "rejected" }

export interface ServerUpdate {
  readonly assistantId: AssistantId
  readonly url: string
  readonly secret: string
}

interface State {
  readonly servers: Map<string, ServerUpdate | null>
  readonly updates: Array<ServerUpdate>
  readonly calls: Array<InboundCall>
  readonly faults: Array<AssistantFault>
}

export class MemoryAssistantControl extends Context.Service<
  MemoryAssistantControl,
  {
    /** Makes an assistant exist (every assistant exists when the adapter was built with `knownOnly: false`). */
    readonly addAssistant: (assistantId: string) => Effect.Effect<void>
    readonly injectFaults: (faults: ReadonlyArray<AssistantFault>) => Effect.Effect<void>
    /** Drops every fault not met yet (the outage is over). */
    readonly clearFaults: Effect.Effect<void>
    /** The server settings each successful `setServer` stored, in order. */
    readonly serverUpdates: Effect.Effect<ReadonlyArray<ServerUpdate>>
    readonly serverOf: (assistantId: string) => Effect.Effect<ServerUpdate | null>
    readonly inboundCalls: Effect.Effect<ReadonlyArray<InboundCall>>
  }
>()("numbers/adapters/memory/MemoryAssistantControl") {}

/** The TwiML Vapi answers with `phoneCallProviderBypassEnabled`: connect the call to Vapi's media stream. */
export const sandboxTwiml = (call: InboundCall): string =>
  `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://sandbox.vapi.invalid/${call.assistantId}/${call.callSid}"/></Connect></Response>`

export const layer = (options: { readonly knownOnly?: boolean; readonly latency?: Duration.Input } = {}) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const state = yield* Ref.make<State>({ servers: new Map(), updates: [], calls: [], faults: [] })

      const enter = Effect.fnUntraced(function* (
        assistantId: AssistantId
      ): Effect.fn.Return<void, AssistantError> {
        if (options.latency !== undefined) yield* Effect.sleep(options.latency)
        const { fault, known } = yield* Ref.modify(state, (s) => {
          const fault = s.faults.shift()
          const known = !options.knownOnly || s.servers.has(assistantId)
          return [{ fault, known }, s] as const
        })
        if (fault?._tag === "unavailable")
          return yield* new AssistantUnavailable({ message: "HTTP 503 from the assistant provider" })
        if (fault?._tag === "rejected")
          return yield* new AssistantRejected({ message: "HTTP 401 from the assistant provider" })
        if (!known) return yield* new AssistantNotFound({ assistantId })
      })

      const setServer = Effect.fn("Assistant.setServer")(function* (
        assistantId: AssistantId,
        settings: ServerSettings
      ) {
        yield* enter(assistantId)
        const update = { assistantId, url: settings.url, secret: Redacted.value(settings.secret) }
        yield* Ref.update(state, (s) => {
          s.servers.set(assistantId, update)
          s.updates.push(update)
          return s
        })
      })

      const startInboundCall = Effect.fn("Assistant.startInboundCall")(function* (call: InboundCall) {
        yield* enter(call.assistantId)
        yield* Ref.update(state, (s) => {
          s.calls.push(call)
          return s
        })
        return sandboxTwiml(call)
      })

      const control = MemoryAssistantControl.of({
        addAssistant: (assistantId) =>
          Ref.update(state, (s) => {
            if (!s.servers.has(assistantId)) s.servers.set(assistantId, null)
            return s
          }),
        injectFaults: (faults) =>
          Ref.update(state, (s) => {
            s.faults.push(...faults)
            return s
          }),
        clearFaults: Ref.update(state, (s) => ({ ...s, faults: [] })),
        serverUpdates: Ref.get(state).pipe(Effect.map((s) => [...s.updates])),
        serverOf: (assistantId) => Ref.get(state).pipe(Effect.map((s) => s.servers.get(assistantId) ?? null)),
        inboundCalls: Ref.get(state).pipe(Effect.map((s) => [...s.calls]))
      })

      return Context.make(Assistant, Assistant.of({ setServer, startInboundCall })).pipe(
        Context.add(MemoryAssistantControl, control)
      )
    })
  )
