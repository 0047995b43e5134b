// The Repository contract: the same cases against every adapter, so the in-memory fake stays honest.
import { assert, layer } from "@effect/vitest"
import { DateTime, Effect, Fiber, type Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Call, PhoneNumber } from "../../src/domain/entities.ts"
import type { AssistantId, BusinessId, TrialId } from "../../src/domain/ids.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { givenBusiness, newTrial } from "../support/fixtures.ts"

let serial = 0
const numberFor = (): PhoneNumber => {
  serial++
  return Schema.decodeSync(PhoneNumber)({
    e164: `+1415${String(5_000_000 + serial * 7 + Math.floor(Math.random() * 1000)).slice(0, 7)}`,
    areaCode: "415",
    twilioSid: `PN${crypto.randomUUID().replaceAll("-", "")}`
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
