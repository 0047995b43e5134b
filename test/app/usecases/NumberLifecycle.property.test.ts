// Invariants I1, I4, I7 and I8 over random interleavings of the number's life: conversions, assignment jobs
// (each delivered 1-3 times), cancellations, reactivations, operators' "release now", days passing (scheduled
// releases come due), redelivered jobs, provider faults, renames in Twilio's console, and crashed runs.
import { assert, describe, it } from "@effect/vitest"
import {
  Arbitrary,
  Cause,
  Context,
  DateTime,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Redacted,
  Schema,
  type Scope
} from "effect"
import { TestClock } from "effect/testing"
import { MemoryBroadcasterControl } from "../../../src/adapters/memory/MemoryBroadcaster.ts"
import { MemoryJobQueueControl } from "../../../src/adapters/memory/MemoryJobQueue.ts"
import { MemoryMailerControl } from "../../../src/adapters/memory/MemoryMailer.ts"
import { MemoryRepositoryControl } from "../../../src/adapters/memory/MemoryRepository.ts"
import {
  MemoryTelephonyControl,
  type TelephonyFault,
  type TelephonyOperation
} from "../../../src/adapters/memory/MemoryTelephony.ts"
import { memoryLayer } from "../../../src/app/layers/memory.ts"
import { assignNumber } from "../../../src/app/usecases/AssignNumber.ts"
import { convertTrial } from "../../../src/app/usecases/ConvertTrial.ts"
import { type JobServices, jobHandlers } from "../../../src/app/usecases/jobHandlers.ts"
import {
  cancelBusiness,
  reactivateBusiness,
  releaseNow,
  releaseNumber
} from "../../../src/app/usecases/NumberLifecycle.ts"
import type { BusinessStatus } from "../../../src/domain/entities.ts"
import type { BusinessId, TrialId, TwilioSid } from "../../../src/domain/ids.ts"
import { friendlyNameFor } from "../../../src/domain/webhooks.ts"
import { JobQueue } from "../../../src/ports/JobQueue.ts"
import { Repository } from "../../../src/ports/Repository.ts"
import { Telephony, TelephonyUnavailable } from "../../../src/ports/Telephony.ts"
import { reportFigures } from "../../support/figures.ts"
import { newTrial } from "../../support/fixtures.ts"
import { checkOptions, propertyRuns } from "../../support/propertyCheck.ts"
import { settle } from "../../support/settle.ts"

// Half AssignNumber's count of schedules (a schedule simulates months of a few businesses' lives).
const RUNS = Math.ceil(propertyRuns() / 2)
const SECRET = "property-secret"
/** A provider request takes this long to reach Twilio, and its answer as long to come back. */
const LATENCY = Duration.millis(100)
const EPOCH = DateTime.makeUnsafe(0)

const Between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))
/** A business, modulo how many the schedule has. */
const Index = Between(0, 2)
const Job = Schema.Literals(["assign", "release"])
const Operation = Schema.Literals(["purchase", "fetch", "release", "findOwned"])

const Convert = Schema.TaggedStruct("convert", { b: Index })
const Cancel = Schema.TaggedStruct("cancel", { b: Index })
const Reactivate = Schema.TaggedStruct("reactivate", { b: Index })
const ReleaseNow = Schema.TaggedStruct("releaseNow", { b: Index })
const Advance = Schema.TaggedStruct("advance", {
  amount: Between(1, 40),
  unit: Schema.Literals(["seconds", "minutes", "hours", "days"])
})
const Fault = Schema.TaggedStruct("fault", {
  kind: Schema.Literals(["rate-limited", "unavailable", "ambiguous"]),
  operation: Operation
})
/** A late answer: the request times out on our side and goes through at Twilio `afterMillis` later. */
const LateFault = Schema.TaggedStruct("fault", {
  kind: Schema.Literal("late"),
  operation: Schema.Literals(["purchase", "release"]),
  afterMillis: Between(1, 60_000)
})
/** Someone renames the business's number in Twilio's console: its release must be refused (I7). */
const Rename = Schema.TaggedStruct("rename", { b: Index })
/** The job delivered once more, run to its end alongside everything else. */
const Redeliver = Schema.TaggedStruct("redeliver", { job: Job, b: Index })
/** The job delivered once more, and its worker killed `afterMillis` in (often between a request and its answer). */
const Crash = Schema.TaggedStruct("crash", { job: Job, b: Index, afterMillis: Between(0, 600) })
/** The worker making the next call of `operation` dies, before sending it or once Twilio has acted on it. */
const Kill = Schema.TaggedStruct("kill", { operation: Operation, afterTwilio: Schema.Boolean })

/**
 * One step of an interleaving: a member listed twice is drawn twice as often (the lifecycle's own steps, and
 * time, which brings releases due).
 */
const opOf = <F extends Schema.Top>(fault: F) =>
  Schema.Union([
    Convert,
    Cancel,
    Cancel,
    Reactivate,
    Reactivate,
    ReleaseNow,
    Advance,
    Advance,
    fault,
    fault,
    Rename,
    Redeliver,
    Crash,
    Kill
  ])

/**
 * How many businesses (the first `convertedFirst` converted before the ops, after `faultsFirst` are injected),
 * how many times each job is delivered, and the ops.
 */
const scheduleOf = <F extends Schema.Top>(fault: F) =>
  Schema.Struct({
    businesses: Between(1, 3),
    convertedFirst: Between(1, 3),
    faultsFirst: Schema.Array(fault).check(Schema.isMaxLength(4)),
    deliveries: Between(1, 3),
    ops: Schema.Array(opOf(fault)).check(Schema.isMinLength(6), Schema.isMaxLength(40))
  })
const Schedule = scheduleOf(Fault)
const ScheduleWithLateAnswers = scheduleOf(Schema.Union([Fault, LateFault]))

type AnyOp = (typeof ScheduleWithLateAnswers.Type.ops)[number] | (typeof ReleaseSchedule.Type.ops)[number]
type Scenario = Omit<typeof ScheduleWithLateAnswers.Type, "ops"> & {
  readonly cancelledFirst?: boolean
  readonly ops: ReadonlyArray<AnyOp>
}

/**
 * One business's release, denser: it is cancelled, released now (or at the end, on its day), and reactivated
 * around and during the release (at most seconds pass at a time), while release runs fail, are killed at either
 * side of Twilio's acting, or are delivered again.
 */
const ReleaseOperation = Schema.Literals(["fetch", "release"])
const ReleaseKill = Schema.TaggedStruct("kill", {
  operation: Schema.Literal("release"),
  afterTwilio: Schema.Boolean
})
/** Less than the queue's first retry after a killed run (a second) and more than a release run takes, often. */
const AdvanceMillis = Schema.TaggedStruct("advance", {
  amount: Between(1, 1_500),
  unit: Schema.Literal("millis")
})
const ReleaseSchedule = Schema.Struct({
  businesses: Schema.Literal(1),
  convertedFirst: Schema.Literal(1),
  /** Cancelled once its number is assigned, before the ops. */
  cancelledFirst: Schema.Literal(true),
  faultsFirst: Schema.Array(Fault).check(Schema.isMaxLength(0)),
  /** One delivery each (the ops deliver more: redelivered and crashed runs). */
  deliveries: Schema.Literal(1),
  ops: Schema.Array(
    Schema.Union([
      Cancel,
      ReleaseNow,
      ReleaseNow,
      Reactivate,
      Reactivate,
      AdvanceMillis,
      AdvanceMillis,
      AdvanceMillis,
      Schema.TaggedStruct("fault", {
        kind: Schema.Literals(["rate-limited", "unavailable", "ambiguous"]),
        operation: ReleaseOperation
      }),
      ReleaseKill,
      ReleaseKill,
      Schema.TaggedStruct("kill", { operation: Schema.Literal("fetch"), afterTwilio: Schema.Boolean }),
      Schema.TaggedStruct("crash", {
        job: Schema.Literal("release"),
        b: Index,
        afterMillis: Between(0, 600)
      }),
      Schema.TaggedStruct("redeliver", { job: Schema.Literal("release"), b: Index })
    ])
  ).check(Schema.isMinLength(3), Schema.isMaxLength(16))
})

const toFault = (op: Extract<AnyOp, { _tag: "fault" }>): TelephonyFault =>
  op.kind === "rate-limited"
    ? { _tag: "rate-limited", retryAfterMillis: 1_500, operation: op.operation }
    : op.kind === "late"
      ? { _tag: "late", afterMillis: op.afterMillis, operation: op.operation }
      : { _tag: op.kind, operation: op.operation }

// --- What the providers saw, call by call ---------------------------------------------------------------------

interface DeleteCall {
  readonly sid: TwilioSid
  /** Twilio still had the number when the DELETE went out. */
  readonly ownedAtEntry: boolean
  /**
   * `failure`: Twilio answered with an error, or the request timed out (a late one may still land, whether or not
   * the worker lived to read it); `unanswered`: the worker died once Twilio had answered it.
   */
  outcome: "success" | "failure" | "unanswered"
}

interface Recorded {
  readonly sid: TwilioSid
  /** The business's status when its number was recorded: active (assigned) or cancelled (a late one, parked). */
  readonly whileStatus: BusinessStatus | undefined
}

interface Observations {
  /** Invariants broken as a provider call went out (I1 at a purchase, I7 at a DELETE), or between steps. */
  readonly violations: Array<string>
  readonly deletes: Array<DeleteCall>
  readonly recorded: Array<Recorded>
  readonly renamed: Array<TwilioSid>
  /** Workers to kill at their next call of an operation. */
  readonly kills: Array<typeof Kill.Type>
  /** Workers killed so far. */
  killed: number
  /** Reactivations that found a release in flight (they ask Twilio whether the number is still there). */
  reactivatedInFlight: number
}

class Observed extends Context.Service<Observed, Observations>()("test/NumberLifecycle/Observed") {}

/** True while one of the schedule's reactivations runs. */
const Reactivating = Context.Reference<boolean>("test/NumberLifecycle/Reactivating", {
  defaultValue: () => false
})

/**
 * The memory world, with its Telephony and Repository wrapped: every provider call takes LATENCY each way (a
 * crash may fall on either side of Twilio's acting on it), a kill directive ends the calling worker with a
 * defect (its transaction rolled back, its job retried), and a purchase and a DELETE are checked as they go out
 * against the business they are for.
 */
const worldFor = (scenario: Scenario) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const base = yield* Layer.build(
        memoryLayer({
          telephony: { defaultStock: 100 },
          jobs: {
            deliveries: scenario.deliveries,
            concurrency: 8,
            retryBase: "1 second",
            retryBudget: "2 hours"
          },
          settings: { appUrl: "https://numbers.test", vapiWebhookSecret: Redacted.make(SECRET) }
        })
      )
      const telephony = Context.get(base, Telephony)
      const repo = Context.get(base, Repository)
      const account = Context.get(base, MemoryTelephonyControl)
      const tables = Context.get(base, MemoryRepositoryControl)
      const seen: Observations = {
        violations: [],
        deletes: [],
        recorded: [],
        renamed: [],
        kills: [],
        killed: 0,
        reactivatedInFlight: 0
      }
      const violation = (message: string) => Effect.sync(() => seen.violations.push(message))

      const killed = (operation: TelephonyOperation, afterTwilio: boolean) =>
        Effect.die(
          new Error(`worker killed ${afterTwilio ? "after Twilio acted on" : "before"} ${operation}`)
        )

      /**
       * The request goes out, Twilio acts on it (`call`), the answer comes back; `check` runs as it reaches
       * Twilio, and `onAnswer` with Twilio's answer and whether the worker died before reading it.
       */
      const roundTrip = <A, E>(
        operation: TelephonyOperation,
        call: Effect.Effect<A, E>,
        check: Effect.Effect<void> = Effect.void,
        onAnswer: (exit: Exit.Exit<A, E>, killed: boolean) => void = () => {}
      ) =>
        Effect.gen(function* () {
          yield* Effect.sleep(LATENCY)
          const at = seen.kills.findIndex((k) => k.operation === operation)
          const kill = at === -1 ? undefined : seen.kills.splice(at, 1)[0]
          if (kill) seen.killed++
          if (kill && !kill.afterTwilio) return yield* killed(operation, false)
          yield* check
          const exit = yield* Effect.exit(call)
          onAnswer(exit, kill !== undefined)
          if (kill) return yield* killed(operation, true)
          yield* Effect.sleep(LATENCY)
          return yield* exit
        })

      /** I1: a business buys only while active, without a number recorded or at Twilio. */
      const checkPurchase = (friendlyName: string) =>
        Effect.gen(function* () {
          const business = (yield* tables.businesses).find((b) => friendlyNameFor(b.id) === friendlyName)
          const named = (yield* account.owned).filter((n) => n.friendlyName === friendlyName)
          const at = DateTime.formatIso(yield* DateTime.now)
          if (business?.status !== "active")
            yield* violation(`I1: a purchase at ${at} for a business ${business?.status ?? "unknown"}`)
          if (business?.phoneNumber || business?.numberStatus !== "pending")
            yield* violation(
              `I1: a purchase at ${at} for a business whose number is ${business?.numberStatus}`
            )
          if (named.length > 0)
            yield* violation(`I1: a purchase at ${at} while Twilio has ${named[0]?.sid} for the business`)
        })

      /** I7: a DELETE only of a cancelled, due business's number, by its SID, named for it at Twilio. */
      const checkRelease = (sid: TwilioSid) =>
        Effect.gen(function* () {
          const now = yield* DateTime.now
          const at = DateTime.formatIso(now)
          const holders = (yield* tables.businesses).filter((b) => b.phoneNumber?.twilioSid === sid)
          const owned = (yield* account.owned).find((n) => n.sid === sid)
          const holder = holders[0]
          if (holders.length !== 1 || !holder?.phoneNumber)
            return yield* violation(`I7: DELETE ${sid} at ${at}, the number of ${holders.length} businesses`)
          if (holder.status !== "cancelled")
            yield* violation(`I7: DELETE ${sid} at ${at} of a ${holder.status} business`)
          if (!holder.releaseAt || DateTime.isLessThan(now, holder.releaseAt))
            yield* violation(`I7: DELETE ${sid} at ${at}, before its release time ${holder.releaseAt}`)
          if (owned && owned.friendlyName !== friendlyNameFor(holder.id))
            yield* violation(`I7: DELETE ${sid} at ${at}, named "${owned.friendlyName}" at Twilio`)
          if (owned && owned.e164 !== holder.phoneNumber.e164)
            yield* violation(
              `I7: DELETE ${sid} at ${at}: ${owned.e164} at Twilio, ${holder.phoneNumber.e164} ours`
            )
        })

      /** The memory telephony's `late` fault: the request timed out on our side and still goes through. */
      const timedOut = (exit: Exit.Exit<unknown, unknown>) =>
        Exit.isFailure(exit) &&
        Option.exists(
          Cause.findErrorOption(exit.cause),
          (error) => error instanceof TelephonyUnavailable && error.message.endsWith("timed out")
        )

      const release = (sid: TwilioSid) => {
        const entry: { call?: DeleteCall } = {}
        const check = Effect.gen(function* () {
          yield* checkRelease(sid)
          const ownedAtEntry = (yield* account.owned).some((n) => n.sid === sid)
          entry.call = { sid, ownedAtEntry, outcome: "unanswered" }
          seen.deletes.push(entry.call)
        })
        return roundTrip("release", telephony.release(sid), check, (exit, killed) => {
          if (!entry.call) return
          // A killed worker's DELETE licenses a DELETE of a gone number only if it timed out (it may land late);
          // one Twilio acted on and answered took the number at once, so the next run's fetch finds it gone.
          entry.call.outcome = killed
            ? timedOut(exit)
              ? "failure"
              : "unanswered"
            : Exit.isFailure(exit)
              ? "failure"
              : "success"
        })
      }

      const wrappedTelephony = Telephony.of({
        ...telephony,
        searchLocal: (search) => roundTrip("searchLocal", telephony.searchLocal(search)),
        findOwned: (friendlyName) => roundTrip("findOwned", telephony.findOwned(friendlyName)),
        fetch: (sid) => roundTrip("fetch", telephony.fetch(sid)),
        updateVoiceUrl: (sid, voiceUrl) =>
          roundTrip("updateVoiceUrl", telephony.updateVoiceUrl(sid, voiceUrl)),
        purchase: (request) =>
          roundTrip("purchase", telephony.purchase(request), checkPurchase(request.friendlyName)),
        release
      })
      const wrappedRepository = Repository.of({
        ...repo,
        releaseInFlightSince: (id) =>
          Effect.gen(function* () {
            const since = yield* repo.releaseInFlightSince(id)
            // A release run asks too (before refusing a changed number): only reactivations are counted.
            if (since !== null && (yield* Reactivating)) seen.reactivatedInFlight++
            return since
          }),
        recordNumber: (id, number) =>
          Effect.gen(function* () {
            const before = yield* repo.findBusiness(id)
            const after = yield* repo.recordNumber(id, number)
            seen.recorded.push({ sid: number.twilioSid, whileStatus: before?.status })
            return after
          })
      })
      return base.pipe(
        Context.add(Telephony, wrappedTelephony),
        Context.add(Repository, wrappedRepository),
        Context.add(Observed, seen)
      )
    })
  )

// --- Running a schedule ---------------------------------------------------------------------------------------

/** What a run did that the end state does not show. */
interface Journal {
  /** The businesses, once converted. */
  readonly ids: Array<BusinessId | undefined>
  /** Runs interrupted before they ended. */
  crashes: number
  lateFaults: number
  /** The numbers businesses kept through a reactivation (one entry per reactivation). */
  readonly kept: Array<TwilioSid>
}

/** A user's or an operator's request: it runs to its end (or fails) while the clock moves. */
const request = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.exit(settle(effect, "50 millis"))

const releaseAtOf = (id: BusinessId) =>
  Effect.map(
    Repository.use((r) => r.findBusiness(id)),
    (b) => DateTime.formatIso(b?.releaseAt ?? EPOCH)
  )

/** A delivery of the job, outside the queue: the assignment, or the release at the business's release time. */
const jobFor = (job: "assign" | "release", id: BusinessId): Effect.Effect<void, unknown, JobServices> =>
  job === "assign"
    ? Effect.asVoid(assignNumber(id))
    : Effect.flatMap(releaseAtOf(id), (releaseAt) => releaseNumber(id, releaseAt))

/**
 * I1 and I8 at a moment between two steps (jobs may be halfway): no business has two numbers at Twilio, none
 * uses a released number, and an active business's number is still at Twilio (never released under it).
 */
const checkMoment = (step: number) =>
  Effect.gen(function* () {
    const seen = yield* Observed
    const owned = yield* MemoryTelephonyControl.use((t) => t.owned)
    const businesses = yield* MemoryRepositoryControl.use((r) => r.businesses)
    const releasedNumbers = yield* MemoryRepositoryControl.use((r) => r.releasedNumbers)
    const released = new Set(releasedNumbers.map((r) => r.number.twilioSid))
    const at = `before step ${step} (${DateTime.formatIso(yield* DateTime.now)})`
    for (const business of businesses) {
      const named = owned.filter((n) => n.friendlyName === friendlyNameFor(business.id))
      if (named.length > 1)
        seen.violations.push(`I1: ${at}, Twilio has ${named.length} numbers for ${business.id}`)
      const number = business.phoneNumber
      if (number && released.has(number.twilioSid))
        seen.violations.push(`I1: ${at}, ${business.id} uses ${number.twilioSid}, released`)
      if (business.status === "active" && number && !owned.some((n) => n.sid === number.twilioSid))
        seen.violations.push(
          `I8: ${at}, active ${business.id} uses ${number.twilioSid}, which Twilio no longer has`
        )
    }
  })

const run = (scenario: Scenario) =>
  Effect.gen(function* () {
    const repo = yield* Repository
    const account = yield* MemoryTelephonyControl
    const seen = yield* Observed
    yield* JobQueue.use((q) => Effect.flatMap(jobHandlers, q.work))
    const trials: Array<TrialId> = []
    for (let i = 0; i < scenario.businesses; i++) trials.push((yield* repo.createTrial(newTrial())).id)
    const journal: Journal = {
      ids: trials.map(() => undefined),
      crashes: 0,
      lateFaults: 0,
      kept: []
    }
    const convert = (index: number) =>
      Effect.gen(function* () {
        const trialId = trials[index]
        if (trialId) journal.ids[index] = (yield* convertTrial(trialId)).id
      })
    for (const fault of scenario.faultsFirst) {
      if (fault.kind === "late") journal.lateFaults++
      yield* account.injectFaults([toFault(fault)])
    }
    for (let i = 0; i < scenario.convertedFirst; i++) yield* convert(i % scenario.businesses)
    if (scenario.cancelledFirst) {
      yield* settle(
        MemoryJobQueueControl.use((j) => j.awaitIdle),
        "1 minute"
      )
      for (const id of journal.ids) if (id) yield* request(cancelBusiness(id))
    }
    const redelivered: Array<Fiber.Fiber<unknown, unknown>> = []

    for (const [step, op] of scenario.ops.entries()) {
      yield* checkMoment(step)
      if (op._tag === "advance") {
        yield* TestClock.adjust(Duration.fromInputUnsafe(`${op.amount} ${op.unit}`))
        continue
      }
      if (op._tag === "fault") {
        if (op.kind === "late") journal.lateFaults++
        yield* account.injectFaults([toFault(op)])
        continue
      }
      if (op._tag === "kill") {
        seen.kills.push(op)
        continue
      }
      const index = op.b % scenario.businesses
      if (op._tag === "convert") {
        yield* convert(index)
        continue
      }
      const id = journal.ids[index]
      if (!id) continue
      switch (op._tag) {
        case "cancel":
          yield* request(cancelBusiness(id))
          break
        case "reactivate": {
          const back = yield* request(reactivateBusiness(id).pipe(Effect.provideService(Reactivating, true)))
          if (Exit.isSuccess(back) && back.value.phoneNumber)
            journal.kept.push(back.value.phoneNumber.twilioSid)
          break
        }
        case "releaseNow":
          yield* request(releaseNow(id))
          break
        case "rename":
          // Under the lock: between a release's fetch and its DELETE only as Twilio's own race would put it.
          yield* request(
            repo.withBusinessLock(id, (business) =>
              Effect.gen(function* () {
                const number = business.phoneNumber
                // A person renames a number Twilio still has (a DELETE answered late, or whose answer was lost
                // in a crash, may have taken it already).
                if (!number || !(yield* account.owned).some((n) => n.sid === number.twilioSid)) return
                seen.renamed.push(number.twilioSid)
                yield* account.rename(number.twilioSid, `renamed in the console (was ${business.id})`)
              })
            )
          )
          break
        case "redeliver":
          redelivered.push(yield* Effect.forkChild(Effect.exit(jobFor(op.job, id))))
          break
        case "crash": {
          const fiber = yield* Effect.forkChild(jobFor(op.job, id))
          yield* TestClock.adjust(Duration.millis(op.afterMillis))
          if (fiber.pollUnsafe() === undefined) journal.crashes++
          yield* Fiber.interrupt(fiber)
          break
        }
      }
    }
    yield* checkMoment(scenario.ops.length)
    // To rest: the runs started end, and every job; then 70 days pass (a release time is at most a month and
    // the grace period after a cancellation, or a late number's parking) and the jobs due meanwhile end; then a
    // day more, for late answers to land.
    const awaitIdle = MemoryJobQueueControl.use((j) => j.awaitIdle)
    const idle = settle(awaitIdle, "1 minute")
    yield* settle(
      Effect.all([Fiber.joinAll(redelivered), awaitIdle], { concurrency: "unbounded" }),
      "1 minute"
    )
    yield* TestClock.adjust("70 days")
    yield* idle
    yield* TestClock.adjust("1 day")
    yield* idle
    return journal
  })

// --- The invariants -------------------------------------------------------------------------------------------

/** What one property test checked, and how often its schedules reached the cases the invariants are about. */
class Tally {
  scenarios = 0
  businesses = 0
  checks = 0
  violations = 0
  readonly reached = {
    released: 0,
    reassignedAfterRelease: 0,
    refused: 0,
    crashes: 0,
    killedRuns: 0,
    reactivatedInFlight: 0,
    deletesOfGoneNumbers: 0,
    parkedLateNumbers: 0,
    parkedThenReactivated: 0,
    activeAtEnd: 0,
    cancelledAtEnd: 0
  }

  readonly count = (what: keyof Tally["reached"], n = 1) => {
    this.reached[what] += n
  }

  /** One invariant check: counted, and counted as a violation when it fails (the failure still fails the test). */
  readonly check = (assertion: () => void) => {
    this.checks++
    try {
      assertion()
    } catch (error) {
      this.violations++
      throw error
    }
  }

  readonly assert = {
    strictEqual: <T>(actual: T, expected: T, message?: string) =>
      this.check(() => assert.strictEqual(actual, expected, message)),
    isAtMost: (actual: number, expected: number, message?: string) =>
      this.check(() => assert.isAtMost(actual, expected, message)),
    isTrue: (value: boolean, message?: string) => this.check(() => assert.isTrue(value, message)),
    deepStrictEqual: <T>(actual: T, expected: T, message?: string) =>
      this.check(() => assert.deepStrictEqual(actual, expected, message))
  }

  readonly figures = () => ({
    scenarios: this.scenarios,
    businesses: this.businesses,
    checks: this.checks,
    violations: this.violations,
    ...this.reached
  })
}

const checkInvariants = (journal: Journal, tally: Tally) =>
  Effect.gen(function* () {
    const verify = tally.assert
    const seen = yield* Observed
    const now = yield* DateTime.now
    const owned = yield* MemoryTelephonyControl.use((t) => t.owned)
    const businesses = yield* MemoryRepositoryControl.use((r) => r.businesses)
    const releasedNumbers = yield* MemoryRepositoryControl.use((r) => r.releasedNumbers)
    const enqueued = yield* MemoryJobQueueControl.use((j) => j.enqueued)
    const events = yield* MemoryBroadcasterControl.use((b) => b.published)
    const sent = yield* MemoryMailerControl.use((m) => m.sent)
    tally.businesses += businesses.length
    tally.count("crashes", journal.crashes)
    tally.count("killedRuns", seen.killed)
    tally.count("reactivatedInFlight", seen.reactivatedInFlight)

    // I1 at each purchase, I7 at each DELETE (as the request went out), I1 and I8 between steps.
    verify.isTrue(
      seen.violations.length === 0,
      `I1, I7 and I8 held at every purchase, DELETE and step: ${seen.violations.slice(0, 3).join("; ")}`
    )

    // I1, I8: every number Twilio bills us for is the number in use of exactly one business, and not released.
    const releasedSids = new Set(releasedNumbers.map((r) => r.number.twilioSid))
    for (const number of owned) {
      const holders = businesses.filter((b) => b.phoneNumber?.twilioSid === number.sid)
      verify.strictEqual(
        holders.length,
        1,
        `I1/I8: Twilio's ${number.sid} (${number.friendlyName}) is in use once`
      )
      verify.isTrue(
        !releasedSids.has(number.sid),
        `I8: Twilio still bills ${number.sid}, recorded as released`
      )
    }
    verify.strictEqual(releasedSids.size, releasedNumbers.length, "I8: a number is released once")

    for (const business of businesses) {
      const name = friendlyNameFor(business.id)
      const mine = owned.filter((n) => n.friendlyName === name)
      const number = business.phoneNumber
      const atTwilio = number ? owned.find((n) => n.sid === number.twilioSid) : undefined
      const renamed = number !== null && seen.renamed.includes(number.twilioSid)
      const label = `business ${business.id} (${business.status}, ${business.numberStatus})`
      // I1: one number in use at most, the recorded one; a released number is never in use again.
      verify.isAtMost(mine.length, 1, `I1: ${label} has one number at Twilio at most`)
      verify.deepStrictEqual(
        mine.map((n) => n.sid),
        number && !renamed ? [number.twilioSid] : [],
        `I1: ${label}: the number named for it at Twilio is the one recorded`
      )
      if (number) verify.isTrue(!releasedSids.has(number.twilioSid), `I1: ${label} uses a released number`)

      // The end is consistent.
      if (business.status === "active") {
        tally.count("activeAtEnd")
        verify.strictEqual(
          business.numberStatus,
          "assigned",
          `${label}: an active business ends with its number`
        )
        verify.isTrue(atTwilio !== undefined, `${label}: Twilio has the number it uses`)
        verify.strictEqual(business.releaseAt, null, `${label}: no release time while active`)
        verify.strictEqual(business.assistantStatus, "connected", `${label}: its assistant is pointed at us`)
      } else {
        tally.count("cancelledAtEnd")
        if (number) {
          // I8: kept until its release time, which has passed: released, unless the release was refused (I7).
          verify.isTrue(
            business.releaseAt !== null && !DateTime.isGreaterThan(business.releaseAt, now),
            `I8: ${label}: a release time that has passed (${business.releaseAt}), its job run`
          )
          verify.isTrue(renamed, `I8: ${label}: due since ${business.releaseAt} and not released`)
          verify.isTrue(atTwilio !== undefined, `I7: ${label}: its refused number is still at Twilio`)
          if (renamed) tally.count("refused")
        }
      }
      if (business.numberStatus === "released") {
        tally.count("released")
        verify.strictEqual(number, null, `${label}: no number once released`)
        verify.isTrue(
          releasedNumbers.some((r) => r.businessId === business.id),
          `${label}: its released number is kept in the history`
        )
      }

      // I4: the owner hears once per number it had while active: one number.assigned, and one email (the
      // mailer sends a key once; its outbox job is queued when the number is recorded while active, and again
      // when a reactivation keeps it). A late number parked while cancelled, and never in use, is not announced.
      const numbers = [
        ...releasedNumbers.filter((r) => r.businessId === business.id).map((r) => r.number),
        ...(number ? [number] : [])
      ]
      if (numbers.length > 1) tally.count("reassignedAfterRelease")
      const assignedEvents = events.flatMap((e) =>
        e.businessId === business.id && e.event._tag === "number.assigned" ? [e.event] : []
      )
      const mails = sent.filter((m) => m.idempotencyKey.startsWith(`number-assigned:${business.id}:`))
      let inUse = 0
      for (const n of numbers) {
        const recorded = seen.recorded.filter((r) => r.sid === n.twilioSid)
        verify.strictEqual(recorded.length, 1, `${label}: ${n.twilioSid} recorded once`)
        const whileActive = recorded[0]?.whileStatus === "active"
        const kept = journal.kept.filter((sid) => sid === n.twilioSid).length
        if (!whileActive) tally.count(kept > 0 ? "parkedThenReactivated" : "parkedLateNumbers")
        const used = whileActive || kept > 0 ? 1 : 0
        inUse += used
        const jobs = enqueued.filter(
          (e) => e.accepted && e.key === `number-assigned-email:${business.id}:${n.twilioSid}`
        ).length
        verify.isTrue(
          used === 0 ? jobs === 0 : jobs >= 1 && jobs <= (whileActive ? 1 : 0) + kept,
          `I4: ${label}: ${jobs} email jobs for ${n.twilioSid} (recorded while ${recorded[0]?.whileStatus}, kept ${kept}x)`
        )
        const told = assignedEvents.filter((e) => e.phoneNumber === n.e164).length
        verify.strictEqual(
          told,
          used,
          `I4: ${label}: number.assigned for ${n.e164} (recorded while ${recorded[0]?.whileStatus}, kept ${kept}x)`
        )
        if (business.status === "active" && n === number)
          verify.strictEqual(
            mails.filter((m) => m.idempotencyKey === `number-assigned:${business.id}:${n.twilioSid}`).length,
            1,
            `I4: ${label}: its owner was emailed its number ${n.e164}`
          )
      }
      verify.strictEqual(assignedEvents.length, inUse, `I4: ${label}: no number.assigned without its number`)
      verify.isTrue(
        mails.every((m) =>
          numbers.some((n) => m.idempotencyKey === `number-assigned:${business.id}:${n.twilioSid}`)
        ),
        `I4: ${label}: emails only about its numbers`
      )
    }

    // I8: one successful DELETE per number at most, and a DELETE of a number already gone only as the retry of
    // one answered with an error (a late one may land between the next run's fetch and its DELETE, whether or
    // not its worker lived to read the timeout): a run that follows one killed after Twilio's DELETE finds the
    // number gone by its fetch and records it, and no run retries a released number in a loop.
    for (const sid of new Set(seen.deletes.map((d) => d.sid))) {
      const calls = seen.deletes.filter((d) => d.sid === sid)
      const successes = calls.filter((d) => d.outcome === "success").length
      const failures = calls.filter((d) => d.outcome === "failure").length
      const ofGone = calls.filter((d) => !d.ownedAtEntry).length
      tally.count("deletesOfGoneNumbers", ofGone)
      verify.isAtMost(successes, 1, `I8: successful DELETEs of ${sid}`)
      verify.isAtMost(
        ofGone,
        failures,
        `I8: DELETEs of ${sid} once it was gone, ${failures} answered with an error`
      )
    }
    // I7: a renamed number is never given back (unless a late DELETE sent before the rename lands after it).
    if (journal.lateFaults === 0)
      for (const sid of seen.renamed)
        verify.isTrue(
          owned.some((n) => n.sid === sid),
          `I7: renamed ${sid} is still at Twilio`
        )
  })

type World = Layer.Success<ReturnType<typeof worldFor>> | Scope.Scope

/** As AssignNumber's: each value in a world of its own; a failed assertion falsifies it (and is shrunk). */
const checkScenarios = <E>(
  arbitrary: Arbitrary.Arbitrary<Scenario>,
  runs: number,
  property: (value: Scenario) => Effect.Effect<void, E, World>
) =>
  Arbitrary.checkEffect(
    arbitrary,
    (value): Effect.Effect<boolean, E | Cause.Cause<E>> =>
      property(value).pipe(
        Effect.as(true),
        Effect.scoped,
        Effect.provide(worldFor(value)),
        Effect.provide(TestClock.layer()),
        Effect.catchCause(
          (cause): Effect.Effect<never, E | Cause.Cause<E>> =>
            Cause.hasInterrupts(cause) ? Effect.failCause(cause) : Effect.fail(cause)
        )
      ),
    checkOptions(runs)
  )

const lifecycleProperty = (name: string, arbitrary: Arbitrary.Arbitrary<Scenario>, runs: number) =>
  Effect.gen(function* () {
    const tally = new Tally()
    const started = Date.now()
    const result = yield* checkScenarios(arbitrary, runs, (scenario) =>
      Effect.gen(function* () {
        tally.scenarios++
        const journal = yield* run(scenario)
        yield* checkInvariants(journal, tally)
      })
    )
    reportFigures(name, { result: result._tag, seconds: (Date.now() - started) / 1000, ...tally.figures() })
    if (result._tag !== "Passed") return assert.fail(Arbitrary.formatCheckFailure(result))
    assert.strictEqual(tally.violations, 0)
    // It ran every schedule it generated.
    assert.strictEqual(result.runs, runs)
    assert.strictEqual(tally.scenarios, runs)
    assert.isAtLeast(tally.businesses, tally.scenarios)
    return tally
  })

describe("NumberLifecycle invariants", () => {
  it.effect(
    "I1, I4, I7, I8 and a consistent end over random interleavings of the number's life, faults and crashes",
    () =>
      Effect.gen(function* () {
        const tally = yield* lifecycleProperty(
          "lifecycle property schedules",
          Arbitrary.schema(Schedule),
          RUNS
        )
        // The schedules reached what the invariants are about.
        assert.isAtLeast(tally.reached.released, 1)
        assert.isAtLeast(tally.reached.reassignedAfterRelease, 1)
        assert.isAtLeast(tally.reached.refused, 1)
        assert.isAtLeast(tally.reached.crashes, 1)
      }),
    { timeout: 600_000 }
  )

  it.effect(
    "one business's release under faults, killed runs, redeliveries and reactivations around it",
    () =>
      Effect.gen(function* () {
        const tally = yield* lifecycleProperty(
          "lifecycle property release schedules",
          Arbitrary.map(Arbitrary.schema(ReleaseSchedule), (schedule): Scenario => schedule),
          RUNS
        )
        assert.isAtLeast(tally.reached.released, 1)
        assert.isAtLeast(tally.reached.reassignedAfterRelease, 1)
        assert.isAtLeast(tally.reached.deletesOfGoneNumbers, 1)
        assert.isAtLeast(tally.reached.reactivatedInFlight, 1)
      }),
    { timeout: 600_000 }
  )

  it.effect(
    "with late answers (requests that time out and go through at Twilio later) among the faults",
    () =>
      Effect.gen(function* () {
        yield* lifecycleProperty(
          "lifecycle property schedules with late answers",
          Arbitrary.schema(ScheduleWithLateAnswers),
          Math.ceil(RUNS / 2)
        )
      }),
    { timeout: 600_000 }
  )
})
