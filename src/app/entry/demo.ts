// `bun run demo`: the assignment program alone, in one process on in-memory adapters (simulated Twilio and
// Vapi), printing what happens: a quick look at the fallback chain without a database.
import { Effect, Layer, Logger, Redacted } from "effect"
import { MemoryJobQueueControl } from "../../adapters/memory/MemoryJobQueue.ts"
import { AssistantId } from "../../domain/ids.ts"
import { formatNational } from "../../domain/phone.ts"
import { JobQueue } from "../../ports/JobQueue.ts"
import { Repository } from "../../ports/Repository.ts"
import { memoryLayer } from "../layers/memory.ts"
import { sandboxTelephony } from "../layers/sandbox.ts"
import { convertTrial } from "../usecases/ConvertTrial.ts"
import { jobHandlers } from "../usecases/jobHandlers.ts"

const trials = [
  { businessName: "Golden Gate Dental", requestedAreaCode: "212" },
  { businessName: "Oakland Bikes", requestedAreaCode: "911" },
  { businessName: "Mission Tacos", requestedAreaCode: "555" },
  { businessName: "Palo Alto Tutors", requestedAreaCode: "650" }
]

const program = Effect.gen(function* () {
  yield* Effect.logWarning("sandbox: simulated Twilio and Vapi (212 and 415 sold out, 555 unknown to Twilio)")
  const repo = yield* Repository
  yield* JobQueue.use((queue) => Effect.flatMap(jobHandlers, queue.work))
  const businesses = yield* Effect.forEach(trials, (t, i) =>
    repo
      .createTrial({
        ...t,
        ownerEmail: `owner${i + 1}@example.com`,
        ownerName: `Owner ${i + 1}`,
        vapiAssistantId: AssistantId.make(`sandbox-assistant-${i + 1}`)
      })
      .pipe(Effect.flatMap((trial) => convertTrial(trial.id)))
  )
  yield* MemoryJobQueueControl.use((jobs) => jobs.awaitIdle)
  for (const { id } of businesses) {
    const b = yield* repo.findBusiness(id)
    if (!b) continue
    const number = b.phoneNumber ? formatNational(b.phoneNumber.e164) : (b.failureReason ?? "-")
    yield* Effect.log(
      `${b.name.padEnd(20)} asked for ${String(b.requestedAreaCode).padEnd(4)} -> ${b.numberStatus}: ${number}`
    )
  }
})

program.pipe(
  Effect.scoped,
  Effect.provide(
    Layer.mergeAll(
      memoryLayer({
        telephony: sandboxTelephony,
        jobs: { retryBase: "200 millis", retryBudget: "10 seconds" },
        settings: { vapiWebhookSecret: Redacted.make(crypto.randomUUID()) }
      }),
      Logger.layer([Logger.consolePretty()])
    )
  ),
  Effect.runPromise
)
