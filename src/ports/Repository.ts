// Port: the service's records (Postgres in production).
import { Context, type DateTime, type Effect, Schema } from "effect"
import type {
  AssistantStatus,
  Business,
  BusinessStatus,
  Call,
  NumberStatus,
  NumberStatusCounts,
  PhoneNumber,
  Trial,
  User
} from "../domain/entities.ts"
import type { BusinessNotFound, FailureReason, TrialNotFound } from "../domain/errors.ts"
import type { AssistantId, BusinessId, TrialId, UserId } from "../domain/ids.ts"

export interface NewTrial {
  readonly ownerEmail: string
  readonly ownerName: string
  readonly businessName: string
  readonly vapiAssistantId: AssistantId
  readonly requestedAreaCode: string | null
}

/**
 * Where a page of businesses ended: its last business's creation time and id. Businesses are listed newest
 * first, ties broken by id (descending); the next page holds those strictly after this pair in that order, so
 * pages neither skip nor repeat a business, whatever was created meanwhile or shares a creation time.
 */
export interface BusinessCursor {
  readonly createdAt: DateTime.Utc
  readonly id: BusinessId
}

/** Which businesses to list, and how many at most. */
export interface BusinessListing {
  /** Only this owner's. */
  readonly ownerId?: UserId | undefined
  readonly numberStatus?: NumberStatus | undefined
  readonly assistantStatus?: AssistantStatus | undefined
  readonly status?: BusinessStatus | undefined
  readonly limit: number
  /** After this one (the previous page's `nextCursor`); from the newest when absent. */
  readonly cursor?: BusinessCursor | null | undefined
}

export interface BusinessPage {
  /** At most `limit`, newest first. */
  readonly businesses: ReadonlyArray<Business>
  /** Where the next page starts; null when this one is the last. */
  readonly nextCursor: BusinessCursor | null
  /**
   * How many businesses have each number status among all those the owner, assistant-status and status filters select
   * (the number-status filter and the cursor aside): the tabs a listing is read through.
   */
  readonly counts: NumberStatusCounts
}

export interface Conversion {
  readonly business: Business
  /** False when the trial had been converted before: the same business comes back. */
  readonly created: boolean
}

/** The database could not be reached or gave up (timeout, restart, deadlock): retry later. */
export class RepositoryUnavailable extends Schema.TaggedError<RepositoryUnavailable>()(
  "RepositoryUnavailable",
  {
    message: Schema.String
  }
) {}

/** A write would break a uniqueness rule (a number already recorded elsewhere): a bug or a race lost. */
export class RepositoryConflict extends Schema.TaggedError<RepositoryConflict>()("RepositoryConflict", {
  message: Schema.String
}) {}

export interface RepositoryShape {
  /** Creates a trial; its owner (a user) is found or created by email. */
  readonly createTrial: (input: NewTrial) => Effect.Effect<Trial, RepositoryUnavailable>
  readonly findTrial: (id: TrialId) => Effect.Effect<Trial | null, RepositoryUnavailable>
  readonly findTrialByAssistant: (
    assistantId: AssistantId
  ) => Effect.Effect<Trial | null, RepositoryUnavailable>
  /** Turns the trial into a business, once: later calls answer the same business. */
  readonly convertTrial: (id: TrialId) => Effect.Effect<Conversion, TrialNotFound | RepositoryUnavailable>
  readonly findBusiness: (id: BusinessId) => Effect.Effect<Business | null, RepositoryUnavailable>
  /** The business with its owner (whom the owner's emails go to), in one read. */
  readonly findBusinessWithOwner: (
    id: BusinessId
  ) => Effect.Effect<{ readonly business: Business; readonly owner: User } | null, RepositoryUnavailable>
  /** The owner's businesses, newest first. */
  readonly businessesOf: (ownerId: UserId) => Effect.Effect<ReadonlyArray<Business>, RepositoryUnavailable>
  /** A page of businesses, newest first (see BusinessCursor), and their counts by number status. */
  readonly listBusinesses: (listing: BusinessListing) => Effect.Effect<BusinessPage, RepositoryUnavailable>
  readonly findBusinessByAssistant: (
    assistantId: AssistantId
  ) => Effect.Effect<Business | null, RepositoryUnavailable>
  /**
   * Runs `use` in a transaction that holds the business's row lock: one holder at a
   * time per business, across every process. A failure rolls back what `use` wrote.
   */
  readonly withBusinessLock: <A, E, R>(
    id: BusinessId,
    use: (business: Business) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | BusinessNotFound | RepositoryUnavailable, R>
  /**
   * Records the business's number and marks it assigned, and clears its purchase marker with the same commit (the
   * purchase has its answer: this number). Call it holding the lock: if the lock holder then fails, the marker
   * stays, and the next attempt finds the number by its FriendlyName.
   */
  readonly recordNumber: (
    id: BusinessId,
    number: PhoneNumber
  ) => Effect.Effect<Business, RepositoryConflict | RepositoryUnavailable>
  readonly markFailed: (
    id: BusinessId,
    reason: FailureReason
  ) => Effect.Effect<Business, RepositoryUnavailable>
  /** Back to `pending` (a failed assignment is tried again, or a business whose number was released gets a new one). */
  readonly markPending: (id: BusinessId) => Effect.Effect<Business, RepositoryUnavailable>
  /**
   * Sets whether the business's assistant points at us (`failureReason` is the reason when `failed`, and is
   * cleared otherwise). `changed` is false when it already had that status: who changed it reports it, once.
   * The business returned is current for a caller holding the business lock; without it, an unchanged one may
   * be as it was just before a concurrent writer's commit (`changed` is right either way).
   */
  readonly setAssistantStatus: (
    id: BusinessId,
    status: AssistantStatus,
    reason: FailureReason | null
  ) => Effect.Effect<{ readonly business: Business; readonly changed: boolean }, RepositoryUnavailable>
  /**
   * Purchase markers. A purchase request for the business is about to go out: this is committed at once, in a
   * transaction of its own (even inside `withBusinessLock`), so that an attempt that dies or loses the answer
   * leaves it behind for the next one to see. Never mark or clear it after `recordNumber` in the same lock
   * holder: the recording's transaction holds the marker's row until it commits, and the marker's own
   * transaction would wait for it until the lock timeout.
   */
  readonly markPurchaseInFlight: (id: BusinessId) => Effect.Effect<void, RepositoryUnavailable>
  /** The purchase got a definite answer other than a number (empty, invalid, rate limited): committed at once too. */
  readonly clearPurchaseInFlight: (id: BusinessId) => Effect.Effect<void, RepositoryUnavailable>
  /** Since when a purchase with no definite answer has been out for the business, if one is. */
  readonly purchaseInFlightSince: (
    id: BusinessId
  ) => Effect.Effect<DateTime.Utc | null, RepositoryUnavailable>
  /** Cancels (with the time its number is released, null when it has none) or reactivates the business. */
  readonly setBusinessStatus: (
    id: BusinessId,
    status: BusinessStatus,
    releaseAt: DateTime.Utc | null
  ) => Effect.Effect<Business, RepositoryUnavailable>
  /**
   * Release markers, like the purchase markers: a release request for the business's number is about to go out,
   * committed at once in a transaction of its own, so that a reactivation can tell a release may have happened.
   */
  readonly markReleaseInFlight: (id: BusinessId) => Effect.Effect<void, RepositoryUnavailable>
  readonly clearReleaseInFlight: (id: BusinessId) => Effect.Effect<void, RepositoryUnavailable>
  readonly releaseInFlightSince: (id: BusinessId) => Effect.Effect<DateTime.Utc | null, RepositoryUnavailable>
  /**
   * The business's number went back to the provider: the number is kept as history, the business is `released`
   * with no number and no release time, and its release marker is cleared. Call it holding the lock.
   */
  readonly recordReleased: (id: BusinessId) => Effect.Effect<Business, RepositoryUnavailable>
  /** Inserts or updates a call by its Vapi call id. */
  readonly upsertCall: (call: Call) => Effect.Effect<Call, RepositoryUnavailable>
  readonly recentCalls: (
    callableId: string,
    limit: number
  ) => Effect.Effect<ReadonlyArray<Call>, RepositoryUnavailable>
  /** Runs `effect` in one transaction (a conversion and its job commit together or not at all). */
  readonly transaction: <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RepositoryUnavailable, R>
}

export class Repository extends Context.Service<Repository, RepositoryShape>()("numbers/ports/Repository") {}
