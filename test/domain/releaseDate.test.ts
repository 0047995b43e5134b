import { assert, describe, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Schema } from "effect"
import { BILLING_MARGIN, monthlyAnniversary, releaseAtFor } from "../../src/domain/releaseDate.ts"

const utc = (iso: string) => DateTime.makeUnsafe(iso)
const iso = (date: DateTime.Utc) => DateTime.formatIso(date)
const H72 = Duration.hours(72)

// Any instant from 2000 to 2099, to the millisecond.
const Instant = Schema.Int.check(Schema.isBetween({ minimum: 946_684_800_000, maximum: 4_102_444_799_999 }))
// A cancellation from the purchase itself to about three years later.
const Later = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 * 366 * 86_400_000 }))
const GraceHours = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 8_760 }))

/** The n-th anniversary by a second route: the month count added to a calendar date, clamped by hand. */
const anniversaryByHand = (created: Date, months: number) => {
  const total = created.getUTCFullYear() * 12 + created.getUTCMonth() + months
  const year = Math.floor(total / 12)
  const month = total % 12
  const daysInMonth =
    [
      31,
      (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28,
      31,
      30,
      31,
      30,
      31,
      31,
      30,
      31,
      30,
      31
    ][month] ?? 31
  const day = Math.min(created.getUTCDate(), daysInMonth)
  return Date.UTC(year, month, day) + (created.getTime() % 86_400_000)
}

describe("releaseAtFor: just before the next monthly bill, never inside the grace period", () => {
  it.effect("worked examples (UTC)", () =>
    Effect.sync(() => {
      const cases: ReadonlyArray<readonly [created: string, cancelled: string, releaseAt: string]> = [
        // Bought on the 10th, cancelled on the 1st: the 10th's bill is 9 days away, beyond the 72 h grace.
        ["2026-01-10T15:00:00.000Z", "2026-03-01T00:00:00.000Z", "2026-03-09T15:00:00.000Z"],
        // Cancelled two days before the bill: inside the grace period, so the bill after.
        ["2026-01-10T15:00:00.000Z", "2026-03-08T00:00:00.000Z", "2026-04-09T15:00:00.000Z"],
        // Exactly at the grace period's end: released then.
        ["2026-01-10T15:00:00.000Z", "2026-03-06T15:00:00.000Z", "2026-03-09T15:00:00.000Z"],
        // Bought on the 31st: the bill falls on the last day of shorter months (28 Feb 2027), then the 31st again.
        ["2026-01-31T08:00:00.000Z", "2027-02-10T00:00:00.000Z", "2027-02-27T08:00:00.000Z"],
        ["2026-01-31T08:00:00.000Z", "2027-02-26T00:00:00.000Z", "2027-03-30T08:00:00.000Z"],
        // A leap year's February.
        ["2027-01-31T08:00:00.000Z", "2028-02-01T00:00:00.000Z", "2028-02-28T08:00:00.000Z"],
        // Cancelled the day it was bought: the first anniversary (a month on) less a day.
        ["2026-11-30T05:00:00.000Z", "2026-11-30T05:00:01.000Z", "2026-12-29T05:00:00.000Z"]
      ]
      for (const [created, cancelled, expected] of cases) {
        assert.strictEqual(
          iso(releaseAtFor(utc(created), utc(cancelled), H72)),
          expected,
          `${created} ${cancelled}`
        )
      }
      assert.strictEqual(
        iso(monthlyAnniversary(utc("2026-01-31T08:00:00.000Z"), 1)),
        "2026-02-28T08:00:00.000Z"
      )
      assert.strictEqual(
        iso(monthlyAnniversary(utc("2026-01-31T08:00:00.000Z"), 2)),
        "2026-03-31T08:00:00.000Z"
      )
      assert.strictEqual(
        iso(monthlyAnniversary(utc("2026-12-15T00:00:00.000Z"), 1)),
        "2027-01-15T00:00:00.000Z"
      )
    })
  )

  it.effect.prop(
    "is an anniversary less the margin, at least the grace after the cancellation, and the first such",
    [Instant, Later, GraceHours],
    ([createdMillis, laterMillis, graceHours]) =>
      Effect.sync(() => {
        const created = utc(new Date(createdMillis).toISOString())
        const cancelled = DateTime.add(created, { milliseconds: laterMillis })
        const grace = Duration.hours(graceHours)
        const releaseAt = releaseAtFor(created, cancelled, grace)
        const earliest = DateTime.toEpochMillis(cancelled) + Duration.toMillis(grace)
        const bill = DateTime.toEpochMillis(releaseAt) + Duration.toMillis(BILLING_MARGIN)
        // Which anniversary it is, found by hand.
        const createdDate = DateTime.toDateUtc(created)
        let months = 1
        while (anniversaryByHand(createdDate, months) < bill) months++
        assert.strictEqual(anniversaryByHand(createdDate, months), bill, "a bill date less the margin")
        assert.isAtLeast(DateTime.toEpochMillis(releaseAt), earliest, "never inside the grace period")
        const previous = anniversaryByHand(createdDate, months - 1) - Duration.toMillis(BILLING_MARGIN)
        assert.isTrue(months === 1 || previous < earliest, "no earlier bill date would do")
      })
  )
})
