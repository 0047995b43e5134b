// After the number is recorded: point the business's Vapi assistant at our webhook until it is connected, and
// when it cannot be (refused, missing, or Vapi down past the retry budget) make that visible, once.
import { Cause, DateTime, Effect } from "effect"
import type { Business } from "../../domain/entities.ts"
import type { FailureReason } from "../../domain/errors.ts"
import { AssistantFailed } from "../../domain/events.ts"
import type { BusinessId } from "../../domain/ids.ts"
import { vapiServerUrl } from "../../domain/webhooks.ts"
import { Assistant, type AssistantNotFound, type AssistantRejected } from "../../ports/Assistant.ts"
import { Broadcaster } from "../../ports/Broadcaster.ts"
import { ErrorReporter } from "../../ports/ErrorReporter.ts"
import { Repository } from "../../ports/Repository.ts"
import { briefRetry } from "./retrySchedules.ts"
import { Settings } from "./Settings.ts"

/** Told once, by whoever marked the assistant failed (the owner's event went with the mark): the operator. */
export const reportAssistantFailed = Effect.fnUntraced(function* (
  businessId: BusinessId,
  reason: FailureReason,
  cause: Cause.Cause<unknown>
) {
  yield* Effect.logWarning(`assistant not connected: ${reason}`)
  yield* (yield* ErrorReporter).report(cause, { businessId, operation: "Assistant.setServer", reason })
})

/**
 * After the number is committed: point the assistant at us (an idempotent update) until it is connected. A
 * missing or refusing assistant needs a person, so it fails at once; an unavailable Vapi fails the attempt,
 * for the job queue to retry.
 */
export const connectAssistant = Effect.fnUntraced(function* (business: Business) {
  if (business.assistantStatus === "connected") return
  const settings = yield* Settings
  const repo = yield* Repository
  const broadcaster = yield* Broadcaster
  // The mark and the owner's event commit together; the operator is told after, by whoever marked it.
  const failed = (reason: FailureReason, error: AssistantNotFound | AssistantRejected) =>
    repo
      .transaction(
        Effect.gen(function* () {
          const { changed } = yield* repo.setAssistantStatus(business.id, "failed", reason)
          if (changed) {
            const at = DateTime.formatIso(yield* DateTime.now)
            yield* broadcaster.publish(
              business.id,
              new AssistantFailed({ businessId: business.id, reason, at })
            )
          }
          return changed
        })
      )
      .pipe(
        Effect.flatMap((changed) =>
          changed ? reportAssistantFailed(business.id, reason, Cause.fail(error)) : Effect.void
        )
      )
  yield* (yield* Assistant)
    .setServer(business.vapiAssistantId, {
      url: vapiServerUrl(settings.appUrl, business.id),
      secret: settings.vapiWebhookSecret
    })
    .pipe(
      Effect.retry(briefRetry(settings.inLockRetryBudget)),
      Effect.andThen(repo.setAssistantStatus(business.id, "connected", null)),
      Effect.catchTags({
        AssistantNotFound: (error) => failed("assistant_not_found", error),
        AssistantRejected: (error) => failed("assistant_rejected", error)
      })
    )
})
