// Every port on its in-memory adapter, with the adapters' controls: the test composition and the sandbox's base.
import { Layer } from "effect"
import * as MemoryAssistant from "../../adapters/memory/MemoryAssistant.ts"
import * as MemoryBroadcaster from "../../adapters/memory/MemoryBroadcaster.ts"
import * as MemoryErrorReporter from "../../adapters/memory/MemoryErrorReporter.ts"
import * as MemoryJobQueue from "../../adapters/memory/MemoryJobQueue.ts"
import * as MemoryMailer from "../../adapters/memory/MemoryMailer.ts"
import * as MemoryReadiness from "../../adapters/memory/MemoryReadiness.ts"
import * as MemoryRepository from "../../adapters/memory/MemoryRepository.ts"
import * as MemoryTelephony from "../../adapters/memory/MemoryTelephony.ts"
import { Settings, type SettingsShape } from "../usecases/Settings.ts"

export interface MemoryOptions {
  readonly telephony?: MemoryTelephony.MemoryTelephonyOptions
  readonly jobs?: MemoryJobQueue.MemoryJobQueueOptions
  readonly assistantsKnownOnly?: boolean
  readonly settings?: Partial<SettingsShape>
}

export const memoryLayer = (options: MemoryOptions = {}) =>
  Layer.mergeAll(
    MemoryTelephony.layer(options.telephony ?? { defaultStock: 100 }),
    MemoryAssistant.layer({ knownOnly: options.assistantsKnownOnly ?? false }),
    MemoryRepository.layer,
    MemoryMailer.layer,
    MemoryBroadcaster.layer,
    MemoryErrorReporter.layer,
    MemoryJobQueue.layer(options.jobs),
    MemoryReadiness.layer,
    Settings.layer(options.settings)
  )
