// Use case: the owner's "Number assigned" email (the outbox job queued when the number was recorded).
import { Cause, Effect } from "effect"
import type { BusinessId } from "../../domain/ids.ts"
import { ErrorReporter } from "../../ports/ErrorReporter.ts"
import { Mailer } from "../../ports/Mailer.ts"
import { Repository } from "../../ports/Repository.ts"
import { numberAssignedEmail } from "./email/numberAssignedEmail.ts"
import { Settings } from "./Settings.ts"

/**
 * Fails with `MailUnavailable` while SMTP is down (the queue retries); the idempotency key (the business and its
 * number's SID) makes it send once per number: a business given a new number after a release hears again.
 */
export const sendNumberAssignedEmail = Effect.fn("SendNumberAssignedEmail")(function* (
  businessId: BusinessId
) {
  const repo = yield* Repository
  const found = yield* repo.findBusinessWithOwner(businessId)
  const number = found?.business.phoneNumber
  // A business that left before its email went out is told if it comes back (its reactivation queues it).
  if (!found || !number || found.business.status === "cancelled") return "nothing-to-send" as const
  const { business, owner } = found
  const { appUrl } = yield* Settings
  const reporter = yield* ErrorReporter
  // Rendered once per send (MJML's API is a Promise; a template error is a defect, not a retryable failure).
  const message = yield* Effect.promise(() => numberAssignedEmail({ owner, business, number, appUrl }))
  return yield* (yield* Mailer)
    .send(message, { idempotencyKey: `number-assigned:${businessId}:${number.twilioSid}` })
    .pipe(
      Effect.catchTag("MailRejected", (error) =>
        reporter
          .report(Cause.fail(error), { businessId, operation: "Mailer.send" })
          .pipe(Effect.as("rejected" as const))
      )
    )
})
