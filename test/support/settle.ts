// Driving background work to rest on the TestClock: jobs back off on virtual time, so time must move for them.
import { type Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"

/**
 * Runs `effect` while moving the TestClock forward in `step`s until it completes
 * (at most `maxSteps` steps, so a stuck test fails instead of spinning).
 */
export const settle = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  step: Duration.Input = "1 minute",
  maxSteps = 10_000
) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect)
    for (let i = 0; i < maxSteps; i++) {
      yield* Effect.yieldNow
      if (fiber.pollUnsafe() !== undefined) break
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.join(fiber)
  })
