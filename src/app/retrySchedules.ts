// The retry policies of the assignment: brief ones inside the business lock, and the area-code walk.
import { Duration, Effect, Schedule } from "effect"

interface Tagged {
  readonly _tag: string
}

const isRateLimited = (e: Tagged): e is Tagged & { readonly retryAfterMillis: number } =>
  e._tag === "TelephonyRateLimited"

/** Errors a provider call may meet that a later try can cure. */
export const isTransient = (e: Tagged): boolean =>
  e._tag === "TelephonyRateLimited" || e._tag === "TelephonyUnavailable" || e._tag === "AssistantUnavailable"

/**
 * Jittered exponential backoff from 200 ms for transient provider errors, honouring
 * Retry-After, and giving up once the next wait would pass `budget`: the caller holds a
 * lock, and a longer outage belongs to the job queue's backoff, not to a held transaction.
 */
export const briefRetry = (budget: Duration.Duration) => {
  const budgetMillis = Duration.toMillis(budget)
  return Schedule.exponential("200 millis").pipe(
    Schedule.jittered,
    Schedule.setInputType<Tagged>(),
    Schedule.modifyDelay(({ input, duration }) =>
      Effect.succeed(
        isRateLimited(input) ? Duration.max(duration, Duration.millis(input.retryAfterMillis)) : duration
      )
    ),
    Schedule.while(
      ({ input, elapsed, duration }) =>
        isTransient(input) && elapsed + Duration.toMillis(duration) <= budgetMillis
    )
  )
}

/** The area-code walk: on an empty or unknown code, move on at once; one step per code in the chain. */
export const nextAreaCode = (chainLength: number) =>
  Schedule.recurs(chainLength).pipe(
    Schedule.setInputType<Tagged>(),
    Schedule.while(({ input }) => input._tag === "NoNumbersInAreaCode" || input._tag === "InvalidAreaCode")
  )

/** Every area code empty: stock churns, so the whole chain is tried again a few times, spaced out. */
export const stockChurn = (retries: number, spacing: Duration.Duration) =>
  Schedule.spaced(spacing).pipe(
    Schedule.setInputType<Tagged>(),
    Schedule.while(({ input, attempt }) => input._tag === "AllAreaCodesEmpty" && attempt <= retries)
  )
