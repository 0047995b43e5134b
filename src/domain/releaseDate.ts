// When a cancelled business's number is released. Twilio bills a number's whole month up front on the day of the
// month it was created, and never prorates: so the number is kept until just before its next bill, and never
// less than a grace period after the cancellation (the owner may come back).
import { DateTime, Duration } from "effect"

/** Twilio's billing time zone is not documented: release this long before the anniversary (UTC). */
export const BILLING_MARGIN = Duration.hours(24)

/**
 * The `months`-th monthly anniversary of `created` (UTC), at the same time of day. A number created on the 31st
 * renews on the last day of a shorter month, and on the 31st again after it.
 */
export const monthlyAnniversary = (created: DateTime.Utc, months: number): DateTime.Utc => {
  const date = DateTime.toDateUtc(created)
  const year = date.getUTCFullYear()
  const month = date.getUTCMonth() + months
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate()
  return DateTime.makeUnsafe(
    Date.UTC(
      year,
      month,
      Math.min(date.getUTCDate(), lastDay),
      date.getUTCHours(),
      date.getUTCMinutes(),
      date.getUTCSeconds(),
      date.getUTCMilliseconds()
    )
  )
}

/**
 * The release time of a number created at `created` for a business cancelled at `cancelledAt`: the first monthly
 * anniversary less BILLING_MARGIN that is at least `minGrace` after the cancellation.
 */
export const releaseAtFor = (
  created: DateTime.Utc,
  cancelledAt: DateTime.Utc,
  minGrace: Duration.Duration
): DateTime.Utc => {
  const earliest = DateTime.addDuration(cancelledAt, minGrace)
  // Months between creation and the earliest release, less one: the search starts just before the answer.
  const start = DateTime.toDateUtc(created)
  const end = DateTime.toDateUtc(earliest)
  const approx =
    (end.getUTCFullYear() - start.getUTCFullYear()) * 12 + (end.getUTCMonth() - start.getUTCMonth()) - 1
  for (let months = Math.max(1, approx); ; months++) {
    const releaseAt = DateTime.subtractDuration(monthlyAnniversary(created, months), BILLING_MARGIN)
    if (DateTime.isGreaterThanOrEqualTo(releaseAt, earliest)) return releaseAt
  }
}
