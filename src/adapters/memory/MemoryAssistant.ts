// In-memory Assistant: known assistants, their server settings, injectable faults and a log of calls.
// Its state is one immutable value in a Ref: every operation is a pure step from one state to the next.
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
  /** The assistants that exist, with the server settings last stored for each (null before any). */
  readonly servers: ReadonlyMap<string, ServerUpdate | null>
  readonly updates: ReadonlyArray<ServerUpdate>
  readonly calls: ReadonlyArray<InboundCall>
  readonly faults: ReadonlyArray<AssistantFault>
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

/**
 * The TwiML Vapi answers with `phoneCallProviderBypassEnabled`: connect the call to Vapi's media stream. The
 * ids are escaped as URL path segments, which leaves nothing that could end the XML attribute they sit in.
 */
const sandboxTwiml = (call: InboundCall): string =>
  `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://sandbox.vapi.invalid/${encodeURIComponent(call.assistantId)}/${encodeURIComponent(call.callSid)}"/></Connect></Response>`

/** Every call meets the next injected fault, if any, and then whether the assistant exists. */
const enterStep =
  (assistantId: AssistantId, knownOnly: boolean) =>
  (s: State): readonly [{ readonly fault: AssistantFault | undefined; readonly known: boolean }, State] => [
    { fault: s.faults[0], known: !knownOnly || s.servers.has(assistantId) },
    { ...s, faults: s.faults.slice(1) }
  ]

const setServerStep =
  (update: ServerUpdate) =>
  (s: State): State => ({
    ...s,
    servers: new Map(s.servers).set(update.assistantId, update),
    updates: [...s.updates, update]
  })

const addAssistantStep =
  (assistantId: string) =>
  (s: State): State =>
    s.servers.has(assistantId) ? s : { ...s, servers: new Map(s.servers).set(assistantId, null) }

export const layer = (options: { readonly knownOnly?: boolean; readonly latency?: Duration.Input } = {}) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const state = yield* Ref.make<State>({ servers: new Map(), updates: [], calls: [], faults: [] })

      const enter = Effect.fnUntraced(function* (
        assistantId: AssistantId
      ): Effect.fn.Return<void, AssistantError> {
        if (options.latency !== undefined) yield* Effect.sleep(options.latency)
        const { fault, known } = yield* Ref.modify(state, enterStep(assistantId, options.knownOnly ?? false))
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
        yield* Ref.update(
          state,
          setServerStep({ assistantId, url: settings.url, secret: Redacted.value(settings.secret) })
        )
      })

      const startInboundCall = Effect.fn("Assistant.startInboundCall")(function* (call: InboundCall) {
        yield* enter(call.assistantId)
        yield* Ref.update(state, (s) => ({ ...s, calls: [...s.calls, call] }))
        return sandboxTwiml(call)
      })

      const control = MemoryAssistantControl.of({
        addAssistant: (assistantId) => Ref.update(state, addAssistantStep(assistantId)),
        injectFaults: (faults) => Ref.update(state, (s) => ({ ...s, faults: [...s.faults, ...faults] })),
        clearFaults: Ref.update(state, (s) => ({ ...s, faults: [] })),
        serverUpdates: Effect.map(Ref.get(state), (s) => s.updates),
        serverOf: (assistantId) => Effect.map(Ref.get(state), (s) => s.servers.get(assistantId) ?? null),
        inboundCalls: Effect.map(Ref.get(state), (s) => s.calls)
      })

      return Context.make(Assistant, Assistant.of({ setServer, startInboundCall })).pipe(
        Context.add(MemoryAssistantControl, control)
      )
    })
  )
