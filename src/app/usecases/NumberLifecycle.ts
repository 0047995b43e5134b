// Use cases: a business leaves and comes back. Cancelling parks its number (calls are rejected; no provider call)
// until just before the number's next monthly bill; then the durable `release-number` job gives it back to
// Twilio, under the business lock and only once Twilio confirms the number is this business's (I7). Reactivating
// before the release keeps the number; after it, the business is assigned a new one.
import { Cause, DateTime, Duration, Effect, Metric, Schema } from "effect"
import type { Business, PhoneNumber } from "../../domain/entities.ts"
import { BusinessActive } from "../../domain/errors.ts"
import {
  BusinessCancelled,
  BusinessReactivated,
  NumberAssigned,
  NumberReleased
} from "../../domain/events.ts"
import type { BusinessId } from "../../domain/ids.ts"
import { releaseAtFor } from "../../domain/releaseDate.ts"
import { friendlyNameFor } from "../../domain/webhooks.ts"
import { Broadcaster } from "../../ports/Broadcaster.ts"
import { ErrorReporter } from "../../ports/ErrorReporter.ts"
import {
  AssignNumberJob,
  JobQueue,
  numberAssignedEmailKey,
  ReleaseNumberJob,
  SendNumberAssignedEmailJob
} from "../../ports/JobQueue.ts"
import { labelled, type ReleaseOutcome, releases } from "../../ports/metrics.ts"
import { Repository } from "../../ports/Repository.ts"
import { Telephony } from "../../ports/Telephony.ts"
import { briefRetry } from "./retrySchedules.ts"
import { Settings } from "./Settings.ts"

/** A release job delivered before its time (clocks differ between machines): retried later. */
export class ReleaseNotDue extends Schema.TaggedError<ReleaseNotDue>()("ReleaseNotDue", {
  releaseAt: Schema.String
}) {}

/**
 * A release of the number was sent with no answer, too recently for Twilio to have surely finished it: the
 * number may still go, so neither a reactivation nor a refusal can be decided yet. Try again in
 * `retryAfterSeconds`.
 */
export class ReleaseSettling extends Schema.TaggedError<ReleaseSettling>()("ReleaseSettling", {
  retryAfterSeconds: Schema.Number
}) {}

/** The number at the recorded SID is not this business's (another phone number or FriendlyName): never deleted. */
export class ReleaseRefused extends Schema.TaggedError<ReleaseRefused>()("ReleaseRefused", {
  message: Schema.String
}) {}

const iso = DateTime.formatIso

/** Fails with ReleaseSettling while a DELETE sent at `releasing` with no answer may still land at Twilio. */
const releaseSettled = Effect.fnUntraced(function* (releasing: DateTime.Utc) {
  const settings = yield* Settings
  const age = DateTime.distance(releasing, yield* DateTime.now)
  if (Duration.isLessThan(age, settings.purchaseSettle)) {
    const wait = Duration.subtract(settings.purchaseSettle, age)
    return yield* new ReleaseSettling({ retryAfterSeconds: Math.ceil(Duration.toSeconds(wait)) })
  }
})

/**
 * A number that landed while its business was cancelled was recorded without its `number.assigned`: the owner
 * is told when the business comes back, unless the stream already told them (within the history kept).
 */
const announceOnce = Effect.fnUntraced(function* (business: Business, number: PhoneNumber) {
  const broadcaster = yield* Broadcaster
  const position = yield* broadcaster.position(business.id)
  const history = yield* broadcaster.replay(business.id, { offset: 0, epoch: position.epoch })
  if (history === null) return
  const told = history.some((s) => s.event._tag === "number.assigned" && s.event.phoneNumber === number.e164)
  if (told) return
  const at = iso(yield* DateTime.now)
  yield* broadcaster.publish(
    business.id,
    new NumberAssigned({ businessId: business.id, phoneNumber: number.e164, areaCode: number.areaCode, at })
  )
})

/**
 * The `release-number` job for the business's release time. Its key is the time: a cancellation that moves the
 * time queues a job of its own, and the job of a time that no longer holds ends without doing anything.
 */
export const scheduleRelease = Effect.fnUntraced(function* (businessId: BusinessId, releaseAt: DateTime.Utc) {
  yield* (yield* JobQueue).enqueue(ReleaseNumberJob.make({ businessId, releaseAt: iso(releaseAt) }), {
    key: `${businessId}:${iso(releaseAt)}`,
    startAfter: releaseAt
  })
})

const releaseSeries = labelled(releases)
const countRelease = (outcome: ReleaseOutcome) => Metric.update(releaseSeries({ outcome }), 1)

/** The number is gone from Twilio: record it (history kept) and tell the owner. Call it holding the lock. */
const recordReleased = Effect.fnUntraced(function* (business: Business) {
  const released = yield* (yield* Repository).recordReleased(business.id)
  const at = iso(yield* DateTime.now)
  const phoneNumber = business.phoneNumber?.e164 ?? ""
  yield* (yield* Broadcaster).publish(
    business.id,
    new NumberReleased({ businessId: business.id, phoneNumber, at })
  )
  yield* Effect.logInfo(`released ${phoneNumber}`)
  return released
})

/**
 * Cancels the business, once (a repeat answers it as it is): its number, if it has one, is parked until its
 * release time, when the `release-number` job runs; one still being assigned stops being assigned.
 */
export const cancelBusiness = Effect.fn("CancelBusiness")(function* (id: BusinessId) {
  const repo = yield* Repository
  const settings = yield* Settings
  return yield* repo
    .withBusinessLock(id, (business) =>
      Effect.gen(function* () {
        if (business.status === "cancelled") return business
        const now = yield* DateTime.now
        const releaseAt = business.phoneNumber
          ? releaseAtFor(business.phoneNumber.dateCreated, now, settings.releaseMinGrace)
          : null
        const cancelled = yield* repo.setBusinessStatus(id, "cancelled", releaseAt)
        if (releaseAt) yield* scheduleRelease(id, releaseAt)
        yield* (yield* Broadcaster).publish(
          id,
          new BusinessCancelled({ businessId: id, releaseAt: releaseAt && iso(releaseAt), at: iso(now) })
        )
        yield* Effect.logInfo(`cancelled; number kept until ${releaseAt ? iso(releaseAt) : "(none)"}`)
        return cancelled
      })
    )
    .pipe(Effect.annotateLogs({ businessId: id }))
})

/**
 * Reactivates a cancelled business (a repeat answers it as it is). Before the release it keeps its number, and
 * calls ring through again with no provider call. After the release, or when a release went out with no recorded
 * answer and Twilio no longer has the number, it gets a new number (a normal assignment); one that had none yet
 * resumes its assignment.
 */
export const reactivateBusiness = Effect.fn("ReactivateBusiness")(function* (id: BusinessId) {
  const repo = yield* Repository
  const settings = yield* Settings
  return yield* repo
    .withBusinessLock(id, (business) =>
      Effect.gen(function* () {
        if (business.status === "active") return business
        let current = business
        const releasing = business.phoneNumber ? yield* repo.releaseInFlightSince(id) : null
        if (business.phoneNumber && releasing !== null) {
          const found = yield* (yield* Telephony)
            .fetch(business.phoneNumber.twilioSid)
            .pipe(Effect.retry(briefRetry(settings.inLockRetryBudget)))
          if (found === null) {
            current = yield* recordReleased(business)
            yield* countRelease("released")
          } else {
            // Still there, but a DELETE that went out unanswered may yet land: not before it has surely settled.
            yield* releaseSettled(releasing)
            yield* repo.clearReleaseInFlight(id)
          }
        }
        let reactivated = yield* repo.setBusinessStatus(id, "active", null)
        // Released, or failed while cancelled: assigned again from the start.
        if (current.numberStatus === "released" || current.numberStatus === "failed") {
          reactivated = yield* repo.markPending(id)
        }
        const jobs = yield* JobQueue
        const now = iso(yield* DateTime.now)
        // A key of its own: the job that ran while it was cancelled may still be finishing under the business's
        // key, and would swallow this one (every attempt runs under the lock and ends early once a number is in).
        const assign = jobs.enqueue(AssignNumberJob.make({ businessId: id }), {
          key: `${id}:reactivated:${now}`
        })
        if (reactivated.numberStatus === "pending") yield* assign
        if (reactivated.phoneNumber) {
          // A number bought before the cancellation that landed while it was cancelled was never announced nor
          // pointed at: the email job (sent once per number: the mailer remembers) and the assistant now.
          yield* jobs.enqueue(SendNumberAssignedEmailJob.make({ businessId: id }), {
            key: numberAssignedEmailKey(id, reactivated.phoneNumber.twilioSid)
          })
          if (reactivated.assistantStatus !== "connected") {
            yield* assign
            yield* announceOnce(reactivated, reactivated.phoneNumber)
          }
        }
        const at = iso(yield* DateTime.now)
        yield* (yield* Broadcaster).publish(id, new BusinessReactivated({ businessId: id, at }))
        yield* Effect.logInfo(`reactivated (number ${reactivated.numberStatus})`)
        return reactivated
      })
    )
    .pipe(Effect.annotateLogs({ businessId: id }))
})

/**
 * An operator's "release it now": a cancelled business's release time becomes now and its job is queued. An
 * active business's number is in use (BusinessActive); one with no number has nothing to release.
 */
export const releaseNow = Effect.fn("ReleaseNow")(function* (id: BusinessId) {
  const repo = yield* Repository
  return yield* repo
    .withBusinessLock(id, (business) =>
      Effect.gen(function* () {
        if (business.status === "active") return yield* new BusinessActive({ businessId: id })
        if (!business.phoneNumber) return business
        const now = yield* DateTime.now
        const due = yield* repo.setBusinessStatus(id, "cancelled", now)
        yield* scheduleRelease(id, now)
        yield* Effect.logInfo("release requested now")
        return due
      })
    )
    .pipe(Effect.annotateLogs({ businessId: id }))
})

/** The same release queued again for `at`, under a key of its own (why, and when). */
const queueReleaseAgain = Effect.fnUntraced(function* (
  businessId: BusinessId,
  releaseAt: string,
  why: "again" | "settled",
  at: DateTime.Utc
) {
  yield* (yield* JobQueue).enqueue(ReleaseNumberJob.make({ businessId, releaseAt }), {
    key: `${businessId}:${releaseAt}:${why}:${iso(at)}`,
    startAfter: at
  })
})

/**
 * The `release-number` job. Under the lock: the business must still be cancelled with this release time, and
 * due; Twilio must still have the number at its SID with this business's phone number and FriendlyName. The
 * release is marked in flight (committed at once) before the DELETE; a 404 on the fetch or the DELETE means the
 * number is gone already (a run that died after Twilio's 204), and is recorded as released, never retried. A
 * number changed at Twilio is refused, but not while a DELETE of ours may still land: that release is queued
 * again for when it has surely settled.
 */
export const releaseNumber = Effect.fn("ReleaseNumber")(
  function* (businessId: BusinessId, releaseAt: string) {
    const repo = yield* Repository
    const telephony = yield* Telephony
    const settings = yield* Settings
    const outcome = yield* repo.withBusinessLock(businessId, (business) =>
      Effect.gen(function* () {
        const number = business.phoneNumber
        if (business.status !== "cancelled" || !number || !business.releaseAt) return "stale" as const
        if (iso(business.releaseAt) !== releaseAt) return "stale" as const
        if (DateTime.isLessThan(yield* DateTime.now, business.releaseAt)) {
          return yield* new ReleaseNotDue({ releaseAt })
        }
        const budget = settings.inLockRetryBudget
        const found = yield* telephony.fetch(number.twilioSid).pipe(Effect.retry(briefRetry(budget)))
        if (found !== null) {
          if (found.e164 !== number.e164 || found.friendlyName !== friendlyNameFor(businessId)) {
            // Changed at Twilio, perhaps after our own DELETE went out unanswered (a run killed, an answer lost):
            // that DELETE may still take the number, so nothing is decided until it has surely settled (the
            // release is queued again for then); then the number is either gone (released) or there (refused).
            const releasing = yield* repo.releaseInFlightSince(businessId)
            if (releasing !== null) yield* releaseSettled(releasing)
            return yield* new ReleaseRefused({
              message: `Twilio's number ${number.twilioSid} is not this business's ${number.e164} (its FriendlyName or phone number differs)`
            })
          }
          yield* repo.markReleaseInFlight(businessId)
          yield* telephony.release(number.twilioSid).pipe(Effect.retry(briefRetry(budget)))
        }
        yield* recordReleased(business)
        return "released" as const
      })
    )
    if (outcome === "released") yield* countRelease("released")
    else yield* Effect.logInfo(`release job for ${releaseAt} is stale: nothing to do`)
  },
  (effect, businessId, releaseAt) =>
    effect.pipe(
      // Not a failure: the job ends, and the same release runs again once our DELETE has surely settled.
      Effect.catchTag("ReleaseSettling", (settling) =>
        Effect.gen(function* () {
          const at = DateTime.addDuration(yield* DateTime.now, Duration.seconds(settling.retryAfterSeconds))
          yield* Effect.logInfo(`an unanswered DELETE of ours may still land: decided at ${iso(at)}`)
          yield* queueReleaseAgain(businessId, releaseAt, "settled", at)
        })
      ),
      // A refusal needs a person, not a retry: reported once, counted, and the job ends.
      Effect.catchTag("ReleaseRefused", (refused) =>
        Effect.gen(function* () {
          yield* Effect.logError(`release refused: ${refused.message}`)
          yield* (yield* ErrorReporter).report(Cause.fail(refused), {
            businessId,
            operation: "ReleaseNumber"
          })
          yield* countRelease("refused")
        })
      ),
      Effect.annotateLogs({ useCase: "ReleaseNumber", businessId })
    )
)

/** After a release's budget is spent, it is tried again this much later, for as long as it is due. */
const RELEASE_RETRY_AFTER = Duration.hours(1)

/**
 * The release job's budget is spent (Twilio down or refusing us for hours): counted and reported, and the same
 * release queued again an hour later under a key of its own: a number left on the bill costs a month, so it is
 * never given up on while its business is cancelled and due (the job ends at once otherwise).
 */
export const failRelease = Effect.fn("ReleaseNumber.fail")(function* (
  businessId: BusinessId,
  releaseAt: string,
  cause: Cause.Cause<unknown>
) {
  yield* countRelease("failed")
  yield* Effect.logError("release failed: the retry budget is spent; trying again in an hour")
  yield* (yield* ErrorReporter).report(cause, { businessId, operation: "ReleaseNumber" })
  const later = DateTime.addDuration(yield* DateTime.now, RELEASE_RETRY_AFTER)
  yield* queueReleaseAgain(businessId, releaseAt, "again", later)
})
