// The Repository contract: the same cases against every adapter, so the in-memory fake stays honest.
import { assert, layer } from "@effect/vitest"
import { DateTime, Effect, Fiber, type Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Call, PhoneNumber } from "../../src/domain/entities.ts"
import type { AssistantId, BusinessId, TrialId, UserId } from "../../src/domain/ids.ts"
import {
  type BusinessCursor,
  type BusinessListing,
  type BusinessPage,
  Repository
} from "../../src/ports/Repository.ts"
import { givenBusiness, newTrial } from "../support/fixtures.ts"

// A number no other case of this run has: a random start for the run (its database may hold an earlier run's
// numbers), then one apart each (a random offset each could repeat one: the same e164 twice is a conflict).
const firstNumber = 5_000_000 + Math.floor(Math.random() * 4_000_000)
let serial = 0
const numberFor = (): PhoneNumber => {
  serial++
  return Schema.decodeSync(PhoneNumber)({
    e164: `+1415${firstNumber + serial}`,
    areaCode: "415",
    twilioSid: `PN${crypto.randomUUID().replaceAll("-", "")}`,
    dateCreated: "2026-10-31T09:30:00.000Z"
  })
}

const callOf = (fields: Partial<ConstructorParameters<typeof Call>[0]> & { callableId: string }) =>
  new Call({
    vapiCallId: `call-${crypto.randomUUID()}` as never,
    callableKind: "business",
    status: "ringing",
    endedReason: null,
    from: null,
    summary: null,
    startedAt: null,
    endedAt: null,
    ...fields
  })

/** Businesses of one new owner, converted in one transaction: Postgres gives them its one `now()`. */
const businessesTogether = (ownerEmail: string, count: number) =>
  Effect.gen(function* () {
    const repo = yield* Repository
    return yield* repo.transaction(
      Effect.forEach(Array.from({ length: count }), () =>
        Effect.flatMap(repo.createTrial(newTrial({ ownerEmail })), (trial) =>
          Effect.map(repo.convertTrial(trial.id), ({ business }) => business)
        )
      )
    )
  })

/** Every page of a listing from its cursor on, following nextCursor to the end. */
const allPages = (listing: BusinessListing) =>
  Effect.gen(function* () {
    const repo = yield* Repository
    const pages: Array<BusinessPage> = []
    let cursor: BusinessCursor | null = listing.cursor ?? null
    do {
      const page: BusinessPage = yield* repo.listBusinesses({ ...listing, cursor })
      pages.push(page)
      cursor = page.nextCursor
    } while (cursor !== null && pages.length < 100)
    return pages
  })

/** Newest first, then by id (descending). */
const newestFirst = (
  a: { createdAt: DateTime.Utc; id: string },
  b: { createdAt: DateTime.Utc; id: string }
) =>
  DateTime.toEpochMillis(b.createdAt) - DateTime.toEpochMillis(a.createdAt) ||
  (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)

export const repositoryContract = <E>(name: string, adapter: Layer.Layer<Repository, E>) =>
  layer(adapter, { timeout: "60 seconds" })(`Repository contract: ${name}`, (it) => {
    // Real time: the database's own timeouts and the lock test's sleeps must pass.
    const live = <A, E2>(title: string, body: () => Effect.Effect<A, E2, Repository>) =>
      it.effect(title, () => TestClock.withLive(body()))

    live("a trial's owner is found or created by email, case-insensitively", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const email = `Same${crypto.randomUUID()}@Example.com`
        const input = newTrial({ ownerEmail: email })
        const first = yield* repo.createTrial(input)
        const second = yield* repo.createTrial(newTrial({ ownerEmail: email.toLowerCase() }))
        assert.strictEqual(first.ownerId, second.ownerId)
        assert.strictEqual(first.ownerEmail, email.toLowerCase())
        assert.deepStrictEqual([first.status, first.businessId], ["active", null])
        assert.deepStrictEqual(yield* repo.findTrial(first.id), first)
        const { business } = yield* repo.convertTrial(first.id)
        const found = yield* repo.findBusinessWithOwner(business.id)
        assert.deepStrictEqual(found?.business, business)
        assert.deepStrictEqual(
          [found?.owner.id, found?.owner.email, found?.owner.name],
          [first.ownerId, email.toLowerCase(), input.ownerName]
        )
        assert.isNull(yield* repo.findBusinessWithOwner("not-a-business" as BusinessId))
      })
    )

    live("cancel and reactivate; a released number is history, and the business may hold another (I1)", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const business = yield* givenBusiness()
        const first = numberFor()
        yield* repo.withBusinessLock(business.id, () => repo.recordNumber(business.id, first))
        const releaseAt = DateTime.makeUnsafe("2026-12-29T09:30:00.000Z")
        const cancelled = yield* repo.setBusinessStatus(business.id, "cancelled", releaseAt)
        assert.deepStrictEqual(
          [cancelled.status, cancelled.releaseAt && DateTime.formatIso(cancelled.releaseAt)],
          ["cancelled", "2026-12-29T09:30:00.000Z"]
        )
        assert.strictEqual(
          cancelled.phoneNumber && DateTime.formatIso(cancelled.phoneNumber.dateCreated),
          "2026-10-31T09:30:00.000Z"
        )
        // The release marker commits on its own and is cleared with the record.
        yield* repo.markReleaseInFlight(business.id)
        assert.isNotNull(yield* repo.releaseInFlightSince(business.id))
        const released = yield* repo.withBusinessLock(business.id, () => repo.recordReleased(business.id))
        assert.deepStrictEqual(
          [released.status, released.numberStatus, released.phoneNumber, released.releaseAt],
          ["cancelled", "released", null, null]
        )
        assert.isNull(yield* repo.releaseInFlightSince(business.id))
        // Reactivated after the release: pending, then a second number; the first one's e164 may be sold again
        // (to anyone, this business included), as Twilio resells aged numbers.
        yield* repo.setBusinessStatus(business.id, "active", null)
        yield* repo.markPending(business.id)
        const again = new PhoneNumber({
          ...first,
          twilioSid: `PN${crypto.randomUUID().replaceAll("-", "")}` as never
        })
        const second = yield* repo.withBusinessLock(business.id, () => repo.recordNumber(business.id, again))
        assert.deepStrictEqual(
          [second.status, second.numberStatus, second.phoneNumber?.twilioSid],
          ["active", "assigned", again.twilioSid]
        )
        // One number in use per business: a third is refused while the second is in use.
        const third = yield* Effect.flip(
          repo.withBusinessLock(business.id, () => repo.recordNumber(business.id, numberFor()))
        )
        assert.strictEqual(third._tag, "RepositoryConflict")
        // The release marker can also be cleared without a release (the number was still there).
        yield* repo.markReleaseInFlight(business.id)
        yield* repo.clearReleaseInFlight(business.id)
        assert.isNull(yield* repo.releaseInFlightSince(business.id))
        // The status filter, with released counted among the number statuses.
        const listed = yield* repo.listBusinesses({ ownerId: business.ownerId, status: "active", limit: 10 })
        assert.deepStrictEqual(
          listed.businesses.map((b) => b.id),
          [business.id]
        )
        const none = yield* repo.listBusinesses({ ownerId: business.ownerId, status: "cancelled", limit: 10 })
        assert.deepStrictEqual(none, {
          businesses: [],
          nextCursor: null,
          counts: { pending: 0, assigned: 0, failed: 0, released: 0 }
        })
      })
    )

    live("counts released businesses, and filters by status", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const email = `released-${crypto.randomUUID()}@example.com`
        const [kept, gone] = yield* Effect.forEach([1, 2], () =>
          givenBusiness({ ownerEmail: email }).pipe(Effect.tap(() => Effect.sleep("5 millis")))
        )
        if (!kept || !gone) return assert.fail("two businesses")
        for (const b of [kept, gone])
          yield* repo.withBusinessLock(b.id, () => repo.recordNumber(b.id, numberFor()))
        yield* repo.setBusinessStatus(gone.id, "cancelled", null)
        yield* repo.withBusinessLock(gone.id, () => repo.recordReleased(gone.id))
        const all = yield* repo.listBusinesses({ ownerId: kept.ownerId, limit: 10 })
        assert.deepStrictEqual(all.counts, { pending: 0, assigned: 1, failed: 0, released: 1 })
        const cancelled = yield* repo.listBusinesses({
          ownerId: kept.ownerId,
          status: "cancelled",
          limit: 10
        })
        assert.deepStrictEqual(
          [cancelled.businesses.map((b) => b.id), cancelled.counts],
          [[gone.id], { pending: 0, assigned: 0, failed: 0, released: 1 }]
        )
      })
    )

    live("finds trials and businesses by assistant id, and answers null for unknown ids", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const assistant = `asst-${crypto.randomUUID()}` as AssistantId
        const trial = yield* repo.createTrial(newTrial({ vapiAssistantId: assistant }))
        assert.strictEqual((yield* repo.findTrialByAssistant(assistant))?.id, trial.id)
        assert.isNull(yield* repo.findBusinessByAssistant(assistant))
        const { business } = yield* repo.convertTrial(trial.id)
        assert.strictEqual((yield* repo.findBusinessByAssistant(assistant))?.id, business.id)
        assert.deepStrictEqual(
          (yield* repo.businessesOf(trial.ownerId)).map((b) => b.id),
          [business.id]
        )
        assert.deepStrictEqual(yield* repo.businessesOf("nobody" as never), [])
        assert.isNull(yield* repo.findBusiness("not-a-business" as BusinessId))
        assert.isNull(yield* repo.findTrial("not a trial' OR 1=1 --" as TrialId))
      })
    )

    live("converts a trial once, even when asked concurrently", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const trial = yield* repo.createTrial(newTrial({ requestedAreaCode: "212" }))
        const conversions = yield* Effect.forEach([1, 2, 3, 4], () => repo.convertTrial(trial.id), {
          concurrency: "unbounded"
        })
        assert.strictEqual(new Set(conversions.map((c) => c.business.id)).size, 1)
        assert.strictEqual(conversions.filter((c) => c.created).length, 1)
        const [{ business }] = conversions as [(typeof conversions)[0]]
        assert.deepStrictEqual(
          [business.numberStatus, business.requestedAreaCode, business.trialId, business.phoneNumber],
          ["pending", "212", trial.id, null]
        )
        const converted = yield* repo.findTrial(trial.id)
        assert.deepStrictEqual([converted?.status, converted?.businessId], ["converted", business.id])
        const error = yield* Effect.flip(repo.convertTrial("missing" as TrialId))
        assert.strictEqual(error._tag, "TrialNotFound")
      })
    )

    live(
      "a conversion arriving while another's transaction is open answers that business once it commits",
      () =>
        Effect.gen(function* () {
          const repo = yield* Repository
          const trial = yield* repo.createTrial(newTrial())
          const holder = yield* Effect.forkChild(
            repo.transaction(repo.convertTrial(trial.id).pipe(Effect.tap(() => Effect.sleep("300 millis"))))
          )
          yield* Effect.sleep("100 millis")
          const late = yield* repo.convertTrial(trial.id)
          const first = yield* Fiber.join(holder)
          assert.deepStrictEqual([first.created, late.created], [true, false])
          assert.strictEqual(late.business.id, first.business.id)
          assert.strictEqual((yield* repo.findTrial(trial.id))?.businessId, first.business.id)
        })
    )

    live("records a number under the lock and refuses a second one or a duplicate", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const a = yield* givenBusiness()
        const b = yield* givenBusiness()
        const number = numberFor()
        const recorded = yield* repo.withBusinessLock(a.id, () => repo.recordNumber(a.id, number))
        assert.strictEqual(recorded.numberStatus, "assigned")
        assert.deepStrictEqual(recorded.phoneNumber, number)
        assert.deepStrictEqual((yield* repo.findBusiness(a.id))?.phoneNumber, number)
        const again = yield* Effect.flip(
          repo.withBusinessLock(a.id, () => repo.recordNumber(a.id, numberFor()))
        )
        assert.strictEqual(again._tag, "RepositoryConflict")
        const elsewhere = yield* Effect.flip(
          repo.withBusinessLock(b.id, () => repo.recordNumber(b.id, number))
        )
        assert.strictEqual(elsewhere._tag, "RepositoryConflict")
        assert.strictEqual((yield* repo.findBusiness(b.id))?.numberStatus, "pending")
      })
    )

    live("a failing lock holder leaves the business as it found it", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const business = yield* givenBusiness()
        const failed = yield* Effect.flip(
          repo.withBusinessLock(business.id, () =>
            repo
              .recordNumber(business.id, numberFor())
              .pipe(Effect.andThen(Effect.fail("crash after record" as const)))
          )
        )
        assert.strictEqual(failed, "crash after record")
        const after = yield* repo.findBusiness(business.id)
        assert.deepStrictEqual([after?.numberStatus, after?.phoneNumber], ["pending", null])
        const missing = yield* Effect.flip(repo.withBusinessLock("nope" as BusinessId, () => Effect.void))
        assert.strictEqual(missing._tag, "BusinessNotFound")
      })
    )

    live("the lock admits one holder at a time", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const business = yield* givenBusiness()
        const spans: Array<[number, number]> = []
        yield* Effect.forEach(
          [1, 2, 3],
          () =>
            repo.withBusinessLock(business.id, () =>
              Effect.gen(function* () {
                const start = Date.now()
                yield* Effect.sleep("150 millis")
                spans.push([start, Date.now()])
              })
            ),
          { concurrency: "unbounded" }
        )
        spans.sort((x, y) => x[0] - y[0])
        for (let i = 1; i < spans.length; i++) {
          assert.isAtLeast(spans[i]?.[0] ?? 0, spans[i - 1]?.[1] ?? Infinity, "holders overlapped")
        }
      })
    )

    live("marks failed, then pending again, then assigned", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const business = yield* givenBusiness()
        const failed = yield* repo.withBusinessLock(business.id, () =>
          repo.markFailed(business.id, "no_numbers_available")
        )
        assert.deepStrictEqual(
          [failed.numberStatus, failed.failureReason],
          ["failed", "no_numbers_available"]
        )
        const pending = yield* repo.markPending(business.id)
        assert.deepStrictEqual([pending.numberStatus, pending.failureReason], ["pending", null])
        const assigned = yield* repo.withBusinessLock(business.id, () =>
          repo.recordNumber(business.id, numberFor())
        )
        assert.deepStrictEqual([assigned.numberStatus, assigned.failureReason], ["assigned", null])
      })
    )

    live(
      "the assistant's status: set once (changed), unchanged on a repeat, its reason cleared when connected",
      () =>
        Effect.gen(function* () {
          const repo = yield* Repository
          const business = yield* givenBusiness()
          assert.strictEqual(business.assistantStatus, "pending")
          yield* repo.withBusinessLock(business.id, () => repo.recordNumber(business.id, numberFor()))
          const failed = yield* repo.setAssistantStatus(business.id, "failed", "assistant_not_found")
          assert.deepStrictEqual(
            [
              failed.changed,
              failed.business.numberStatus,
              failed.business.assistantStatus,
              failed.business.failureReason
            ],
            [true, "assigned", "failed", "assistant_not_found"]
          )
          const again = yield* repo.setAssistantStatus(business.id, "failed", "assistant_not_found")
          assert.isFalse(again.changed)
          const connected = yield* repo.setAssistantStatus(business.id, "connected", null)
          assert.deepStrictEqual(
            [connected.changed, connected.business.assistantStatus, connected.business.failureReason],
            [true, "connected", null]
          )
          assert.deepStrictEqual(yield* repo.findBusiness(business.id), connected.business)
        })
    )

    live("a purchase marker commits on its own: a lock holder that fails does not take it back", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const business = yield* givenBusiness()
        assert.isNull(yield* repo.purchaseInFlightSince(business.id))
        const failed = yield* Effect.flip(
          repo.withBusinessLock(business.id, () =>
            repo
              .markPurchaseInFlight(business.id)
              .pipe(Effect.andThen(Effect.fail("died mid-purchase" as const)))
          )
        )
        assert.strictEqual(failed, "died mid-purchase")
        const since = yield* repo.purchaseInFlightSince(business.id)
        assert.isNotNull(since)
        // Read inside the lock too (where the next attempt reads it), then cleared by a definite answer.
        assert.deepStrictEqual(
          yield* repo.withBusinessLock(business.id, () => repo.purchaseInFlightSince(business.id)),
          since
        )
        yield* repo.withBusinessLock(business.id, () => repo.clearPurchaseInFlight(business.id))
        assert.isNull(yield* repo.purchaseInFlightSince(business.id))
      })
    )

    live(
      "recording a number clears its purchase marker in the lock's transaction: a holder that fails keeps it",
      () =>
        Effect.gen(function* () {
          const repo = yield* Repository
          const business = yield* givenBusiness()
          const number = numberFor()
          // Bought, recorded, then the holder dies before its commit: the marker must survive for the next attempt.
          const failed = yield* Effect.flip(
            repo.withBusinessLock(business.id, () =>
              repo
                .markPurchaseInFlight(business.id)
                .pipe(
                  Effect.andThen(repo.recordNumber(business.id, number)),
                  Effect.andThen(Effect.fail("died after recording" as const))
                )
            )
          )
          assert.strictEqual(failed, "died after recording")
          const since = yield* repo.purchaseInFlightSince(business.id)
          assert.isNotNull(since)
          assert.isNull((yield* repo.findBusiness(business.id))?.phoneNumber ?? null)
          // The next attempt records it and commits: the marker goes with that commit.
          const recorded = yield* repo.withBusinessLock(business.id, () =>
            repo.recordNumber(business.id, number)
          )
          assert.strictEqual(recorded.phoneNumber?.e164, number.e164)
          assert.isNull(yield* repo.purchaseInFlightSince(business.id))
        })
    )

    live("upserts calls by Vapi call id and lists the newest first", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const business = yield* givenBusiness()
        const startedAt = DateTime.makeUnsafe("2026-11-01T10:00:00Z")
        const first = callOf({ callableId: business.id, from: "+14155550100", startedAt })
        yield* repo.upsertCall(first)
        const ended = yield* repo.upsertCall(
          new Call({
            ...first,
            status: "ended",
            endedReason: "customer-ended-call",
            from: null,
            startedAt: null
          })
        )
        assert.deepStrictEqual(
          [
            ended.status,
            ended.endedReason,
            ended.from,
            ended.startedAt && DateTime.formatIso(ended.startedAt)
          ],
          ["ended", "customer-ended-call", "+14155550100", "2026-11-01T10:00:00.000Z"]
        )
        yield* Effect.sleep("5 millis")
        const second = yield* repo.upsertCall(callOf({ callableId: business.id }))
        const recent = yield* repo.recentCalls(business.id, 10)
        assert.deepStrictEqual(
          recent.map((c) => c.vapiCallId),
          [second.vapiCallId, first.vapiCallId]
        )
      })
    )

    // The test clock stands still: the in-memory businesses share a creation time as Postgres's one transaction's do.
    it.effect(
      "lists an owner's businesses newest first, a page at a time, with no gap or repeat across equal creation times",
      () =>
        Effect.gen(function* () {
          const repo = yield* Repository
          const email = `pages-${crypto.randomUUID()}@example.com`
          const older = yield* businessesTogether(email, 3)
          yield* TestClock.adjust("1 second")
          yield* TestClock.withLive(Effect.sleep("20 millis"))
          const newer = yield* businessesTogether(email, 4)
          const ownerId = older[0]?.ownerId as UserId
          for (const group of [older, newer]) {
            assert.strictEqual(new Set(group.map((b) => DateTime.formatIso(b.createdAt))).size, 1)
          }
          const expected = [...newer.sort(newestFirst), ...older.sort(newestFirst)].map((b) => b.id)

          const pages = yield* allPages({ ownerId, limit: 2 })
          assert.deepStrictEqual(
            pages.map((page) => page.businesses.length),
            [2, 2, 2, 1]
          )
          assert.deepStrictEqual(
            pages.flatMap((page) => page.businesses.map((b) => b.id)),
            expected
          )
          assert.isNull(pages.at(-1)?.nextCursor)
          // A page ending right where the list does has no next page.
          const whole = yield* repo.listBusinesses({ ownerId, limit: 7 })
          assert.deepStrictEqual([whole.businesses.length, whole.nextCursor], [7, null])
          assert.deepStrictEqual(
            whole.businesses.map((b) => b.id),
            expected
          )
          // Every page counts all of the owner's businesses, wherever it starts.
          for (const page of pages)
            assert.deepStrictEqual(page.counts, { pending: 7, assigned: 0, failed: 0, released: 0 })

          // A business created after the first page was read does not shift the pages that follow it.
          const first = pages[0]
          yield* TestClock.adjust("1 second")
          yield* TestClock.withLive(Effect.sleep("20 millis"))
          yield* businessesTogether(email, 1)
          const rest = yield* allPages({ ownerId, limit: 2, cursor: first?.nextCursor ?? null })
          assert.deepStrictEqual(
            rest.flatMap((page) => page.businesses.map((b) => b.id)),
            expected.slice(2)
          )
          assert.deepStrictEqual(
            yield* repo.listBusinesses({
              ownerId: "00000000-0000-4000-8000-000000000000" as UserId,
              limit: 5
            }),
            { businesses: [], nextCursor: null, counts: { pending: 0, assigned: 0, failed: 0, released: 0 } }
          )
        })
    )

    live("filters by number and assistant status, and counts by number status over the other filters", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const email = `filters-${crypto.randomUUID()}@example.com`
        // A few milliseconds apart: each its own creation time (they are kept to the millisecond).
        const [pending, connected, assistantDown, failed] = yield* Effect.forEach([1, 2, 3, 4], () =>
          givenBusiness({ ownerEmail: email }).pipe(Effect.tap(() => Effect.sleep("5 millis")))
        )
        if (!pending || !connected || !assistantDown || !failed) return assert.fail("four businesses")
        for (const b of [connected, assistantDown]) {
          yield* repo.withBusinessLock(b.id, () => repo.recordNumber(b.id, numberFor()))
        }
        yield* repo.setAssistantStatus(connected.id, "connected", null)
        yield* repo.setAssistantStatus(assistantDown.id, "failed", "assistant_not_found")
        yield* repo.withBusinessLock(failed.id, () => repo.markFailed(failed.id, "no_numbers_available"))
        const ownerId = pending.ownerId
        const ids = (listing: Omit<BusinessListing, "limit">) =>
          Effect.map(repo.listBusinesses({ ...listing, limit: 100 }), (page) => ({
            ids: page.businesses.map((b) => b.id),
            counts: page.counts
          }))

        assert.deepStrictEqual(yield* ids({ ownerId }), {
          ids: [failed.id, assistantDown.id, connected.id, pending.id],
          counts: { pending: 1, assigned: 2, failed: 1, released: 0 }
        })
        // The number-status filter narrows the page, not the counts.
        assert.deepStrictEqual(yield* ids({ ownerId, numberStatus: "failed" }), {
          ids: [failed.id],
          counts: { pending: 1, assigned: 2, failed: 1, released: 0 }
        })
        // The assistant-status filter narrows both.
        assert.deepStrictEqual(yield* ids({ ownerId, assistantStatus: "failed" }), {
          ids: [assistantDown.id],
          counts: { pending: 0, assigned: 1, failed: 0, released: 0 }
        })
        assert.deepStrictEqual(
          yield* ids({ ownerId, numberStatus: "assigned", assistantStatus: "pending" }),
          {
            ids: [],
            counts: { pending: 1, assigned: 0, failed: 1, released: 0 }
          }
        )
        const [failedRow] = (yield* repo.listBusinesses({ ownerId, numberStatus: "failed", limit: 1 }))
          .businesses
        assert.deepStrictEqual(failedRow, yield* repo.findBusiness(failed.id))
        assert.strictEqual(failedRow?.failureReason, "no_numbers_available")
        // Without an owner: every owner's, these among them, counted with the rest.
        const everyone = yield* repo.listBusinesses({ numberStatus: "failed", limit: 100 })
        assert.include(
          everyone.businesses.map((b) => b.id),
          failed.id
        )
        assert.isTrue(everyone.businesses.every((b) => b.numberStatus === "failed"))
        assert.isAtLeast(everyone.counts.failed, 1)
        assert.isAtLeast(everyone.counts.assigned, 2)
      })
    )

    live("updatedAt starts at createdAt and moves with every change, but not with a change to nothing", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const business = yield* givenBusiness()
        assert.deepStrictEqual(business.updatedAt, business.createdAt)
        const later = (a: DateTime.Utc, b: DateTime.Utc) =>
          assert.isAbove(DateTime.toEpochMillis(b), DateTime.toEpochMillis(a))
        yield* Effect.sleep("20 millis")
        const pendingAgain = yield* repo.markPending(business.id)
        assert.deepStrictEqual(pendingAgain.updatedAt, business.updatedAt)
        const failed = yield* repo.withBusinessLock(business.id, () =>
          repo.markFailed(business.id, "no_numbers_available")
        )
        later(business.updatedAt, failed.updatedAt)
        assert.deepStrictEqual(failed.createdAt, business.createdAt)
        yield* Effect.sleep("20 millis")
        const pending = yield* repo.markPending(business.id)
        later(failed.updatedAt, pending.updatedAt)
        yield* Effect.sleep("20 millis")
        const assigned = yield* repo.withBusinessLock(business.id, () =>
          repo.recordNumber(business.id, numberFor())
        )
        later(pending.updatedAt, assigned.updatedAt)
        yield* Effect.sleep("20 millis")
        const connected = yield* repo.setAssistantStatus(business.id, "connected", null)
        later(assigned.updatedAt, connected.business.updatedAt)
        yield* Effect.sleep("20 millis")
        const again = yield* repo.setAssistantStatus(business.id, "connected", null)
        assert.deepStrictEqual(
          [again.changed, again.business.updatedAt],
          [false, connected.business.updatedAt]
        )
        assert.deepStrictEqual(
          (yield* repo.findBusiness(business.id))?.updatedAt,
          connected.business.updatedAt
        )
      })
    )

    live(
      "a business read inside a transaction sees the transaction's own writes; outside, the committed state",
      () =>
        Effect.gen(function* () {
          const repo = yield* Repository
          const business = yield* givenBusiness()
          const [inside, outside] = yield* repo.transaction(
            Effect.gen(function* () {
              yield* repo.setBusinessStatus(business.id, "cancelled", null)
              // Postgres reads outside a transaction on a pool of their own: this one must not.
              const inside = yield* repo.findBusiness(business.id)
              return [inside?.status, business.status] as const
            })
          )
          assert.deepStrictEqual([inside, outside], ["cancelled", "active"])
          assert.strictEqual((yield* repo.findBusiness(business.id))?.status, "cancelled")
        })
    )

    live("a transaction that fails rolls back the conversion inside it", () =>
      Effect.gen(function* () {
        const repo = yield* Repository
        const trial = yield* repo.createTrial(newTrial())
        const failed = yield* Effect.flip(
          repo.transaction(
            repo.convertTrial(trial.id).pipe(Effect.andThen(Effect.fail("enqueue failed" as const)))
          )
        )
        assert.strictEqual(failed, "enqueue failed")
        const after = yield* repo.findTrial(trial.id)
        assert.deepStrictEqual([after?.status, after?.businessId], ["active", null])
      })
    )
  })
