// The worker: runs the durable jobs (and the hourly pruning of owner events) in this process until it stops. Stopping (SIGTERM) stops fetching;
// jobs in flight finish, or their heartbeat lapses and another worker takes them.
import { Effect, Layer } from "effect"
import { JobQueue } from "../../ports/JobQueue.ts"
import { jobHandlers } from "../usecases/jobHandlers.ts"
import { pruneEventsForever } from "../usecases/PruneEvents.ts"

export const workerLayer = Layer.effectDiscard(
  Effect.gen(function* () {
    const queue = yield* JobQueue
    yield* queue.work(yield* jobHandlers)
    yield* Effect.forkScoped(pruneEventsForever)
    yield* Effect.logInfo("worker: taking jobs")
  })
)
