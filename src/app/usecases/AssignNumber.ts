// Use case: give a converted business its own phone number, exactly once, whatever fails.
// A pure program over the ports; every step is safe to run again (jobs are delivered at least once).
import { Cause, DateTime, Duration, Effect, Exit, Metric, Option, Predicate, Schedule, Schema } from "effect"
import { type ChainStep, purchaseChain, stepLabel } from "../../domain/areaCodeChain.ts"
import { type Business, PhoneNumber } from "../../domain/entities.ts"
import type { FailureReason } from "../../domain/errors.ts"
import { AssistantFailed, NumberAssigned, NumberFailed } from "../../domain/events.ts"
import type { BusinessId } from "../../domain/ids.ts"
import type { UsState } from "../../domain/nearby.ts"
import { areaCodeOf } from "../../domain/phone.ts"
import { releaseAtFor } from "../../domain/releaseDate.ts"
import { friendlyNameFor, twilioVoiceUrl } from "../../domain/webhooks.ts"
import { Broadcaster, type BroadcastUnavailable } from "../../ports/Broadcaster.ts"
import { ErrorReporter } from "../../ports/ErrorReporter.ts"
import { JobQueue, numberAssignedEmailKey, SendNumberAssignedEmailJob } from "../../ports/JobQueue.ts"
import {
  type AreaCodeResult,
  areaCodeAttempts,
  assignmentDuration,
  assignments,
  labelled,
  secondsOf
} from "../../ports/metrics.ts"

const assignmentSeries = labelled(assignments)
const areaCodeAttemptSeries = labelled(areaCodeAttempts)

import { Repository, type RepositoryUnavailable } from "../../ports/Repository.ts"
import {
  type InvalidAreaCode,
  type NoNumbersInAreaCode,
  type NumberTaken,
  type OwnedNumber,
  type PurchaseTarget,
  Telephony,
  type TelephonyRateLimited,
  type TelephonyRejected,
  type TelephonyUnavailable
} from "../../ports/Telephony.ts"
import { connectAssistant, reportAssistantFailed } from "./ConnectAssistant.ts"
import { scheduleRelease } from "./NumberLifecycle.ts"
import { briefRetry } from "./retrySchedules.ts"
import { Settings } from "./Settings.ts"

/** Every area code in the chain had no numbers (or was unknown), and every state searched none, on this pass. */
export class AllAreaCodesEmpty extends Schema.TaggedError<AllAreaCodesEmpty>()("AllAreaCodesEmpty", {
  tried: Schema.Array(Schema.String)
}) {}

/**
 * A purchase request for this business went out without a definite answer, too recently for Twilio to have
 * surely finished it, and no number is found by its FriendlyName yet: buying now could buy a second number.
 * Retryable: a later attempt finds the late number, or buys once the settle time has passed.
 */
export class PurchaseSettling extends Schema.TaggedError<PurchaseSettling>()("PurchaseSettling", {
  since: Schema.String
}) {}

export type AssignmentOutcome =
  | { readonly _tag: "Assigned"; readonly business: Business; readonly number: PhoneNumber }
  | { readonly _tag: "Failed"; readonly business: Business; readonly reason: string }
  /** The business was cancelled: it gets no number (one bought before and found late is recorded, and parked). */
  | { readonly _tag: "Cancelled"; readonly business: Business }

const assigned = (business: Business, number: PhoneNumber): AssignmentOutcome => ({
  _tag: "Assigned",
  business,
  number
})

/** A definite "not this one": an empty or unknown code, or a listed number sold meanwhile. Nothing was bought. */
type Refusal = NoNumbersInAreaCode | InvalidAreaCode | NumberTaken

const isRefusal = (error: { readonly _tag: string }): error is Refusal =>
  error._tag === "NoNumbersInAreaCode" || error._tag === "InvalidAreaCode" || error._tag === "NumberTaken"

/**
 * Buys in one area code, or one number by its PhoneNumber. A 429 was never processed, so it is retried here,
 * briefly. A 5xx or timeout is ambiguous: the number may be ours, or may become ours once a slow purchase
 * completes. So we look it up by FriendlyName, and if it is not there yet we do not buy again in this attempt:
 * the attempt ends (retryable) and the purchase marker keeps later attempts from buying until the purchase has
 * had time to land.
 */
const buyIn = Effect.fnUntraced(function* (
  businessId: BusinessId,
  target: PurchaseTarget,
  voiceUrl: string,
  friendlyName: string
) {
  const telephony = yield* Telephony
  const settings = yield* Settings
  const repo = yield* Repository
  // The marker is committed before the request goes out and cleared on a definite answer only: a refusal
  // (21452 empty, 21451 unknown, 21422 on a number), rate limited (429) or refused (auth, account), the last two
  // never processed; or a number, cleared by recording it (one commit fewer, and a recording rolled back leaves
  // the marker, so the next attempt reconciles before it may buy).
  const purchase = repo.markPurchaseInFlight(businessId).pipe(
    Effect.andThen(telephony.purchase({ ...target, voiceUrl, friendlyName })),
    Effect.tapError((error) =>
      isRefusal(error) || error._tag === "TelephonyRateLimited" || error._tag === "TelephonyRejected"
        ? repo.clearPurchaseInFlight(businessId)
        : Effect.void
    )
  )
  return yield* purchase.pipe(
    Effect.retry({
      schedule: briefRetry(settings.inLockRetryBudget),
      while: (e) => e._tag === "TelephonyRateLimited"
    }),
    Effect.catchTag("TelephonyUnavailable", (ambiguous) =>
      telephony.findOwned(friendlyName).pipe(
        Effect.retry(briefRetry(settings.inLockRetryBudget)),
        Effect.flatMap((found) => (found ? Effect.succeed(found) : Effect.fail(ambiguous)))
      )
    )
  )
})

/** Fails with PurchaseSettling while a purchase without a definite answer may still land. */
const settled = Effect.fnUntraced(function* (businessId: BusinessId) {
  const settings = yield* Settings
  const since = yield* (yield* Repository).purchaseInFlightSince(businessId)
  if (since === null) return
  const age = DateTime.distance(since, yield* DateTime.now)
  if (Duration.isLessThan(age, settings.purchaseSettle)) {
    yield* Effect.logInfo(`a purchase sent ${Duration.format(age)} ago may still land: not buying yet`)
    return yield* new PurchaseSettling({ since: DateTime.formatIso(since) })
  }
})

/** At most this many of a state's listed numbers are tried, each taken one sending us to the next. */
const NEARBY_TRIES = 3

/**
 * Searches the state and buys one of the numbers it lists by PhoneNumber, through `buyIn` (so with the same
 * marker and reconciliation as a purchase by AreaCode). A number sold meanwhile (NumberTaken) sends us to the
 * next one listed; null when the search lists none, or every one tried was taken.
 */
const buyNearby = Effect.fnUntraced(function* (
  businessId: BusinessId,
  region: UsState,
  voiceUrl: string,
  friendlyName: string
) {
  const telephony = yield* Telephony
  const settings = yield* Settings
  // A search is a GET: a 429 or a 5xx is safe to repeat.
  const listed = yield* telephony
    .searchLocal({ region, limit: NEARBY_TRIES })
    .pipe(Effect.retry(briefRetry(settings.inLockRetryBudget)))
  for (const phoneNumber of listed.slice(0, NEARBY_TRIES)) {
    const bought = yield* buyIn(businessId, { phoneNumber }, voiceUrl, friendlyName).pipe(
      Effect.catchIf(isRefusal, (refusal) =>
        Effect.as(Effect.logInfo(`state ${region}: ${phoneNumber} ${refusal._tag}`), null)
      )
    )
    if (bought) return bought
  }
  return null
})

/**
 * What one step of the chain came to (numbers_area_code_attempts_total): an area code's purchase, or a state's
 * search with its purchases, counted once (`empty` when it listed nothing, or only numbers taken meanwhile).
 */
const stepResult = (exit: Exit.Exit<OwnedNumber | null, { readonly _tag: string }>): AreaCodeResult =>
  Exit.isSuccess(exit)
    ? exit.value === null
      ? "empty"
      : "purchased"
    : Option.match(Exit.findErrorOption(exit), {
        onNone: () => "error",
        onSome: (error) =>
          error._tag === "NoNumbersInAreaCode"
            ? "empty"
            : error._tag === "InvalidAreaCode"
              ? "invalid"
              : "error"
      })

type WalkError = TelephonyRateLimited | TelephonyUnavailable | TelephonyRejected | RepositoryUnavailable

/** The rest of a walk: a number, or why the walk ended without one (refusals and empty states never end it). */
type Walk = Effect.Effect<OwnedNumber, AllAreaCodesEmpty | WalkError, Telephony | Settings | Repository>

/**
 * Walks the chain as a fold: each step falls through to the next on a refusal (an empty or unknown code) or
 * a state with nothing to sell, the end of the chain is AllAreaCodesEmpty, and any other failure stops the walk.
 */
const walkChain = Effect.fnUntraced(function* (business: Business, voiceUrl: string, friendlyName: string) {
  const settings = yield* Settings
  const chain = purchaseChain(business.requestedAreaCode, settings.fallbackAreaCodes)
  const tryStep = (step: ChainStep, next: Walk): Walk => {
    const where = step._tag === "AreaCode" ? `area code ${step.areaCode}` : `state ${step.region}`
    const look: Effect.Effect<OwnedNumber | null, Refusal | WalkError, Telephony | Settings | Repository> =
      step._tag === "AreaCode"
        ? buyIn(business.id, { areaCode: step.areaCode }, voiceUrl, friendlyName)
        : buyNearby(business.id, step.region, voiceUrl, friendlyName)
    return look.pipe(
      Effect.onExit((exit) => Metric.update(areaCodeAttemptSeries({ result: stepResult(exit) }), 1)),
      Effect.tapError((error) => Effect.logInfo(`${where}: ${error._tag}`)),
      Effect.flatMap((found) =>
        found === null
          ? Effect.logInfo(`${where}: nothing for sale`).pipe(Effect.andThen(next))
          : Effect.succeed(found)
      ),
      Effect.catchIf(isRefusal, () => next)
    )
  }
  const exhausted: Walk = Effect.fail(new AllAreaCodesEmpty({ tried: chain.map(stepLabel) }))
  return yield* chain.reduceRight((next, step) => tryStep(step, next), exhausted)
})

/** A number bought earlier for this business (by an attempt that died before recording it), pointed at us. */
const reconcile = Effect.fnUntraced(function* (friendlyName: string, voiceUrl: string) {
  const telephony = yield* Telephony
  const settings = yield* Settings
  const found = yield* telephony
    .findOwned(friendlyName)
    .pipe(Effect.retry(briefRetry(settings.inLockRetryBudget)))
  if (found && found.voiceUrl !== voiceUrl) {
    yield* telephony
      .updateVoiceUrl(found.sid, voiceUrl)
      .pipe(Effect.retry(briefRetry(settings.inLockRetryBudget)))
  }
  if (found) yield* Effect.logInfo(`reconciled ${found.e164}: bought before, now recorded`)
  return found
})

/** A number recorded, counted once its transaction has committed, with the time since the conversion. */
const countAssigned = Effect.fnUntraced(function* (business: Business) {
  yield* Metric.update(assignmentSeries({ outcome: "assigned" }), 1)
  const sinceConversion = DateTime.distance(business.createdAt, yield* DateTime.now)
  yield* Metric.update(assignmentDuration, secondsOf(sinceConversion))
})

const phoneNumberOf = (owned: OwnedNumber) =>
  new PhoneNumber({
    e164: owned.e164,
    areaCode: areaCodeOf(owned.e164),
    twilioSid: owned.sid,
    dateCreated: owned.dateCreated
  })

/**
 * A cancelled business buys nothing. But a purchase sent before the cancellation, with no definite answer, may
 * have landed: that number is ours and billed, so it is recorded and parked like any cancelled business's number
 * (released before its next bill), without an email. While it may still land, the attempt fails to look again.
 */
const whileCancelled = Effect.fnUntraced(function* (business: Business, voiceUrl: string) {
  const repo = yield* Repository
  const settings = yield* Settings
  const cancelled = { _tag: "Cancelled", business } as const
  if (business.phoneNumber || (yield* repo.purchaseInFlightSince(business.id)) === null) return cancelled
  const late = yield* reconcile(friendlyNameFor(business.id), voiceUrl)
  if (late === null) {
    yield* settled(business.id)
    yield* repo.clearPurchaseInFlight(business.id)
    return cancelled
  }
  yield* repo.recordNumber(business.id, phoneNumberOf(late))
  const releaseAt = releaseAtFor(late.dateCreated, yield* DateTime.now, settings.releaseMinGrace)
  const parked = yield* repo.setBusinessStatus(business.id, "cancelled", releaseAt)
  yield* scheduleRelease(business.id, releaseAt)
  yield* Effect.logInfo(`a number bought before the cancellation landed: ${late.e164}, parked`)
  return { _tag: "Cancelled", business: parked } as const
})

/** One pass under the business lock: early return, reconcile, or buy; then record and queue the email. */
const attempt = Effect.fnUntraced(function* (businessId: BusinessId) {
  const repo = yield* Repository
  const jobs = yield* JobQueue
  const settings = yield* Settings
  // The business whose number this pass recorded (none when it found one recorded, or failed).
  let recordedNow: Business | undefined
  const outcome = yield* repo.withBusinessLock(businessId, (business) =>
    Effect.gen(function* () {
      const voiceUrl = twilioVoiceUrl(settings.appUrl, businessId)
      if (business.status === "cancelled") return yield* whileCancelled(business, voiceUrl)
      if (business.phoneNumber) return assigned(business, business.phoneNumber)
      if (business.numberStatus !== "pending")
        return { _tag: "Failed", business, reason: business.failureReason ?? "unknown" } as const
      const friendlyName = friendlyNameFor(businessId)
      const reconciled = yield* reconcile(friendlyName, voiceUrl)
      if (reconciled === null) yield* settled(businessId)
      const owned: OwnedNumber = reconciled ?? (yield* walkChain(business, voiceUrl, friendlyName))
      const number = phoneNumberOf(owned)
      const recorded = yield* repo.recordNumber(businessId, number)
      // The email (an outbox job) and the owner's event go out with this transaction: both exist if and only
      // if the number is recorded, and a later run that finds the number announces nothing again.
      yield* jobs.enqueue(SendNumberAssignedEmailJob.make({ businessId }), {
        key: numberAssignedEmailKey(businessId, number.twilioSid)
      })
      const at = DateTime.formatIso(yield* DateTime.now)
      yield* (yield* Broadcaster).publish(
        businessId,
        new NumberAssigned({ businessId, phoneNumber: number.e164, areaCode: number.areaCode, at })
      )
      yield* Effect.logInfo(`assigned ${number.e164}`)
      recordedNow = recorded
      return assigned(recorded, number)
    })
  )
  if (recordedNow) yield* countAssigned(recordedNow)
  return outcome
})

/**
 * Ends a business's assignment as failed (unless it got its number meanwhile), once: the failure is reported
 * and the owner's dashboard told only by the call that marks it. A business that has its number but whose
 * assistant was never pointed at us ends with its assistant `failed` instead: calls would not reach it.
 */
export const failAssignment = Effect.fn("AssignNumber.fail")(function* (
  businessId: BusinessId,
  reason: FailureReason,
  cause: Cause.Cause<unknown>
) {
  const repo = yield* Repository
  const broadcaster = yield* Broadcaster
  type Ending = { readonly business: Business; readonly failed: "number" | "assistant" | null }
  // The owner's event is stored with the change it announces, in the lock's transaction.
  const { business, failed } = yield* repo.withBusinessLock(businessId, (business) =>
    Effect.gen(function* (): Effect.fn.Return<Ending, RepositoryUnavailable | BroadcastUnavailable> {
      // A cancelled business is not failed: it stays as it is, and a reactivation resumes its assignment.
      if (business.status === "cancelled") return { business, failed: null }
      const at = DateTime.formatIso(yield* DateTime.now)
      if (business.numberStatus === "pending") {
        const marked = yield* repo.markFailed(businessId, reason)
        yield* broadcaster.publish(businessId, new NumberFailed({ businessId, reason, at }))
        return { business: marked, failed: "number" }
      }
      if (business.phoneNumber && business.assistantStatus === "pending") {
        const { business: marked } = yield* repo.setAssistantStatus(
          businessId,
          "failed",
          "assistant_unavailable"
        )
        yield* broadcaster.publish(
          businessId,
          new AssistantFailed({ businessId, reason: "assistant_unavailable", at })
        )
        return { business: marked, failed: "assistant" }
      }
      return { business, failed: null }
    })
  )
  if (failed === "number") {
    yield* Metric.update(assignmentSeries({ outcome: "failed" }), 1)
    yield* Effect.logWarning(`assignment failed: ${reason}`)
    yield* (yield* ErrorReporter).report(cause, { businessId, operation: "AssignNumber", reason })
  }
  if (failed === "assistant") yield* reportAssistantFailed(businessId, "assistant_unavailable", cause)
  if (business.status === "cancelled") return { _tag: "Cancelled", business } as const
  return business.phoneNumber
    ? assigned(business, business.phoneNumber)
    : ({ _tag: "Failed", business, reason: business.failureReason ?? reason } as const)
})

/**
 * The `assign-number` job. Fails (for the job queue to retry with its long backoff) only on
 * transient trouble; ends in an outcome when the business is assigned or has failed for good.
 */
export const assignNumber = Effect.fn("AssignNumber")(
  function* (businessId: BusinessId) {
    const settings = yield* Settings
    const outcome = yield* attempt(businessId).pipe(
      // Stock churns: a chain found empty is walked again a few times, spaced out, before it counts as empty.
      Effect.retry({
        schedule: Schedule.spaced(settings.stockChurnSpacing),
        times: settings.stockChurnRetries,
        while: (error) => error._tag === "AllAreaCodesEmpty"
      }),
      Effect.catchTags({
        AllAreaCodesEmpty: (error) => failAssignment(businessId, "no_numbers_available", Cause.fail(error)),
        TelephonyRejected: (error) => failAssignment(businessId, "telephony_rejected", Cause.fail(error))
      })
    )
    if (outcome._tag === "Assigned") yield* connectAssistant(outcome.business)
    return outcome
  },
  Effect.annotateLogs({ useCase: "AssignNumber" })
)

/** What can end an `assign-number` run and leave it to the job queue's retries. */
export type AssignNumberError = Effect.Error<ReturnType<typeof assignNumber>>

/** The reason a business is failed with once the queue's budget is spent, by what ended its last run. */
const reasons: { readonly [Tag in AssignNumberError["_tag"]]: FailureReason } = {
  TelephonyRateLimited: "telephony_unavailable",
  TelephonyUnavailable: "telephony_unavailable",
  PurchaseSettling: "telephony_unavailable",
  AssistantUnavailable: "assistant_unavailable",
  RepositoryUnavailable: "retry_budget_exhausted",
  RepositoryConflict: "retry_budget_exhausted",
  BusinessNotFound: "retry_budget_exhausted",
  JobQueueUnavailable: "retry_budget_exhausted",
  BroadcastUnavailable: "retry_budget_exhausted"
}

const isAssignNumberError = (error: unknown): error is AssignNumberError =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" && Object.hasOwn(reasons, error._tag)

/** A defect (no typed error) spent the budget too: the generic reason. */
export const failureReasonOf = (cause: Cause.Cause<unknown>): FailureReason =>
  Option.match(Option.filter(Cause.findErrorOption(cause), isAssignNumberError), {
    onNone: () => "retry_budget_exhausted",
    onSome: (error) => reasons[error._tag]
  })
