// Brief retries of transient provider errors inside the business lock, honouring a 429's Retry-After.
import { Duration, Effect, Schedule } from "effect"
import type { AssistantError, AssistantUnavailable } from "../../ports/Assistant.ts"
import type { RepositoryUnavailable } from "../../ports/Repository.ts"
import type { TelephonyError, TelephonyRateLimited, TelephonyUnavailable } from "../../ports/Telephony.ts"

/** What a provider call in the assignment can fail with: the ports' error unions. */
export type ProviderError = TelephonyError | AssistantError | RepositoryUnavailable

/** The provider errors a later try can cure. */
export type TransientError = TelephonyRateLimited | TelephonyUnavailable | AssistantUnavailable

export const isTransient = (error: ProviderError): error is TransientError =>
  error._tag === "TelephonyRateLimited" ||
  error._tag === "TelephonyUnavailable" ||
  error._tag === "AssistantUnavailable"

/**
 * Jittered exponential backoff from 200 ms for transient provider errors, honouring Retry-After, and giving
 * up once the next wait would pass `budget`: the caller holds a lock, and a longer outage belongs to the job
 * queue's backoff, not to a held transaction.
 */
export const briefRetry = (budget: Duration.Duration) => {
  const budgetMillis = Duration.toMillis(budget)
  return Schedule.exponential("200 millis").pipe(
    Schedule.jittered,
    Schedule.setInputType<ProviderError>(),
    Schedule.modifyDelay(({ input, duration }) =>
      Effect.succeed(
        input._tag === "TelephonyRateLimited"
          ? Duration.max(duration, Duration.millis(input.retryAfterMillis))
          : duration
      )
    ),
    Schedule.while(
      ({ input, elapsed, duration }) =>
        isTransient(input) && elapsed + Duration.toMillis(duration) <= budgetMillis
    )
  )
}
