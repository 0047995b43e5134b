// Use case: the scheduled pruning of owner events. A stream keeps at least its last EVENT_HISTORY_MIN events and
// every event younger than EVENT_HISTORY_DAYS: enough for any dashboard that was away for a while to resume.
import { Effect, Schedule } from "effect"
import { Broadcaster } from "../../ports/Broadcaster.ts"
import { Settings } from "./Settings.ts"

/** Every worker prunes on this schedule; pruning twice at once is harmless (the same rows go once). */
const EVERY = "1 hour"

export const pruneEventsOnce = Effect.fn("PruneEvents")(function* () {
  const { eventHistory } = yield* Settings
  const pruned = yield* (yield* Broadcaster).prune(eventHistory)
  if (pruned > 0) yield* Effect.logInfo(`pruned ${pruned} owner events`)
  return pruned
})

/** Runs for as long as the worker does; a failed pass waits for the next. */
export const pruneEventsForever = pruneEventsOnce().pipe(
  Effect.catch((error) => Effect.logWarning(`owner events not pruned: ${error.message}`)),
  Effect.repeat(Schedule.spaced(EVERY))
)
