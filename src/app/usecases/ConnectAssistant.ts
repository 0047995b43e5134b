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

/** Points the assistant at us (an idempotent update, briefly retried) and marks it connected. */
const pointAtUs = Effect.fnUntraced(function* (business: Business) {
  const settings = yield* Settings
  yield* (yield* Assistant)
    .setServer(business.vapiAssistantId, {
      url: vapiServerUrl(settings.appUrl, business.id),
      secret: settings.vapiWebhookSecret
    })
    .pipe(Effect.retry(briefRetry(settings.inLockRetryBudget)))
  const { business: connected } = yield* (yield* Repository).setAssistantStatus(
    business.id,
    "connected",
    null
  )
  return connected
})

/** An assistant that needs a person: missing, or refusing the update. Reported once its mark has committed. */
export interface AssistantRefusal {
  readonly reason: FailureReason
  readonly error: AssistantNotFound | AssistantRejected
}

/**
 * Points a pending assistant at us, in the caller's transaction if there is one (the business lock's, once the
 * number is recorded: the status then commits with the number, a commit fewer an assignment). A missing or
 * refusing assistant is marked failed with the owner's event, and returned as `refused` for the caller to report
 * once committed (when it was this call that marked it). An unavailable Vapi fails, having changed nothing.
 */
export const pointAssistant = Effect.fnUntraced(function* (business: Business) {
  const repo = yield* Repository
  const broadcaster = yield* Broadcaster
  const markFailed = (reason: FailureReason, error: AssistantNotFound | AssistantRejected) =>
    repo.transaction(
      Effect.gen(function* () {
        const { business: marked, changed } = yield* repo.setAssistantStatus(business.id, "failed", reason)
        if (changed) {
          const at = DateTime.formatIso(yield* DateTime.now)
          yield* broadcaster.publish(
            business.id,
            new AssistantFailed({ businessId: business.id, reason, at })
          )
        }
        return { business: marked, refused: changed ? { reason, error } : null }
      })
    )
  if (business.assistantStatus !== "pending") return { business, refused: null }
  return yield* pointAtUs(business).pipe(
    Effect.map((connected) => ({ business: connected, refused: null as AssistantRefusal | null })),
    Effect.catchTags({
      AssistantNotFound: (error) => markFailed("assistant_not_found", error),
      AssistantRejected: (error) => markFailed("assistant_rejected", error)
    })
  )
})

/**
 * After the number is committed, for an assistant still pending (Vapi was unavailable while the number was
 * recorded): point it at us, and report a refusal. An unavailable Vapi fails the attempt, for the job queue to
 * retry.
 */
export const connectAssistant = Effect.fnUntraced(function* (business: Business) {
  const { refused } = yield* pointAssistant(business)
  if (refused) yield* reportAssistantFailed(business.id, refused.reason, Cause.fail(refused.error))
})
