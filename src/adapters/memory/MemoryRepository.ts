// In-memory Repository: tables in one process, a real per-business lock (concurrent fibers contend for it),
// rollback of what a failed lock holder or transaction wrote, and the same uniqueness rules as the tables.
// Its state is one immutable value in a SynchronizedRef (so a step may draw new ids): a rollback puts back
// the value it started from.
import { Context, DateTime, Effect, Exit, Layer, Semaphore, SynchronizedRef } from "effect"
import {
  type AssistantStatus,
  Business,
  type BusinessStatus,
  Call,
  type PhoneNumber,
  Trial,
  User
} from "../../domain/entities.ts"
import { BusinessNotFound, type FailureReason, TrialNotFound } from "../../domain/errors.ts"
import { type AssistantId, BusinessId, TrialId, UserId } from "../../domain/ids.ts"
import {
  type BusinessCursor,
  type BusinessListing,
  type BusinessPage,
  type Conversion,
  type NewTrial,
  Repository,
  RepositoryConflict
} from "../../ports/Repository.ts"

interface Tables {
  readonly users: ReadonlyMap<string, User>
  readonly trials: ReadonlyMap<string, Trial>
  readonly businesses: ReadonlyMap<string, Business>
  readonly calls: ReadonlyMap<string, Call>
  /** Numbers given back, with the business they were released from (history: never counted as active). */
  readonly releasedNumbers: ReadonlyArray<ReleasedNumber>
}

export interface ReleasedNumber {
  readonly businessId: BusinessId
  readonly number: PhoneNumber
}

type Marker = "purchasesInFlight" | "releasesInFlight"

interface State {
  readonly tables: Tables
  /** Purchase and release markers live outside the tables: they commit on their own, and no rollback takes them back. */
  readonly purchasesInFlight: ReadonlyMap<string, DateTime.Utc>
  readonly releasesInFlight: ReadonlyMap<string, DateTime.Utc>
}

/** Lets tests look at every business at once (the Postgres adapter answers the same through SQL). */
export class MemoryRepositoryControl extends Context.Service<
  MemoryRepositoryControl,
  {
    readonly businesses: Effect.Effect<ReadonlyArray<Business>>
    readonly releasedNumbers: Effect.Effect<ReadonlyArray<ReleasedNumber>>
    /** How many rows each table holds (a test checks that bad requests change nothing). */
    readonly counts: Effect.Effect<Readonly<Record<"users" | "trials" | "businesses" | "calls", number>>>
  }
>()("numbers/adapters/memory/MemoryRepositoryControl") {}

export interface MemoryRepositoryOptions {
  /** How new ids are made (tests that replay recorded HTTP need the same ids every run). */
  readonly newId?: () => string
}

// A map is never changed in place: a write makes the next one (rows keep their insertion order, as Map does).
const put = <K, V>(map: ReadonlyMap<K, V>, key: K, value: V): ReadonlyMap<K, V> =>
  new Map(map).set(key, value)
const without = <K, V>(map: ReadonlyMap<K, V>, key: K): ReadonlyMap<K, V> =>
  new Map([...map].filter(([k]) => k !== key))
const rows = <V>(map: ReadonlyMap<string, V>): ReadonlyArray<V> => [...map.values()]

const withTables =
  (f: (t: Tables) => Tables) =>
  (s: State): State => ({ ...s, tables: f(s.tables) })
const putBusiness = (business: Business) =>
  withTables((t) => ({ ...t, businesses: put(t.businesses, business.id, business) }))

/** As the table's upsert: the new status wins; what a later event leaves out is kept. */
const mergeCall = (known: Call | undefined, call: Call): Call =>
  known
    ? new Call({
        ...known,
        status: call.status,
        endedReason: call.endedReason ?? known.endedReason,
        from: call.from ?? known.from,
        summary: call.summary ?? known.summary,
        startedAt: known.startedAt ?? call.startedAt,
        endedAt: call.endedAt ?? known.endedAt
      })
    : call

const sameFields = (a: Business, b: Business) =>
  (Object.keys(a) as Array<keyof Business>).every((key) => a[key] === b[key])

/** Newest first, ties by id (descending): the order the listing pages through, as the table's index has it. */
const newestFirst = (a: BusinessCursor, b: BusinessCursor) =>
  DateTime.toEpochMillis(b.createdAt) - DateTime.toEpochMillis(a.createdAt) ||
  (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)

const listingOf = (t: Tables, listing: BusinessListing): BusinessPage => {
  const { ownerId, numberStatus, assistantStatus, status, limit, cursor } = listing
  const selected = rows(t.businesses).filter(
    (b) =>
      (ownerId === undefined || b.ownerId === ownerId) &&
      (assistantStatus === undefined || b.assistantStatus === assistantStatus) &&
      (status === undefined || b.status === status)
  )
  const counts = { pending: 0, assigned: 0, failed: 0, released: 0 }
  for (const b of selected) counts[b.numberStatus]++
  const after = selected
    .filter(
      (b) =>
        (numberStatus === undefined || b.numberStatus === numberStatus) &&
        (!cursor || newestFirst(cursor, b) < 0)
    )
    .sort(newestFirst)
  const businesses = after.slice(0, limit)
  const last = businesses.at(-1)
  return {
    businesses,
    nextCursor: after.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null,
    counts
  }
}

/** The business that already has the number, or this business when it has one: either breaks a unique rule. */
const clashWith = (t: Tables, id: BusinessId, number: PhoneNumber) =>
  rows(t.businesses).find(
    (b) =>
      b.phoneNumber !== null &&
      (b.id === id || b.phoneNumber.e164 === number.e164 || b.phoneNumber.twilioSid === number.twilioSid)
  )

export const layerWith = (options: MemoryRepositoryOptions) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const nextId = Effect.sync(options.newId ?? (() => crypto.randomUUID()))
      const state = yield* SynchronizedRef.make<State>({
        tables: {
          users: new Map(),
          trials: new Map(),
          businesses: new Map(),
          calls: new Map(),
          releasedNumbers: []
        },
        purchasesInFlight: new Map(),
        releasesInFlight: new Map()
      })
      const locks = yield* SynchronizedRef.make<ReadonlyMap<string, Semaphore.Semaphore>>(new Map())
      const transactions = yield* Semaphore.make(1)

      const read = <A>(f: (t: Tables) => A) => Effect.map(SynchronizedRef.get(state), (s) => f(s.tables))

      const lockOf = (id: BusinessId) =>
        SynchronizedRef.modifyEffect(locks, (held) => {
          const lock = held.get(id)
          if (lock) return Effect.succeed([lock, held] as const)
          return Effect.map(Semaphore.make(1), (made) => [made, put(held, id, made)] as const)
        })

      /**
       * Changes a business its caller holds the lock on; a change to nothing (every field as it was) leaves it,
       * `updatedAt` included, as the table's trigger does. One that is not there is a defect.
       */
      const update = (id: BusinessId, f: (business: Business) => Business) =>
        Effect.flatMap(DateTime.now, (now) =>
          SynchronizedRef.modify(state, (s) => {
            const before = s.tables.businesses.get(id)
            if (!before) return [undefined, s] as const
            const changed = f(before)
            const after = sameFields(changed, before) ? before : new Business({ ...changed, updatedAt: now })
            return [{ before, after }, putBusiness(after)(s)] as const
          })
        ).pipe(
          Effect.flatMap((changed) =>
            changed ? Effect.succeed(changed) : Effect.die(new Error(`business ${id} vanished while locked`))
          )
        )

      const createTrial = Effect.fn("Repository.createTrial")((input: NewTrial) =>
        SynchronizedRef.modifyEffect(state, (s) =>
          Effect.gen(function* () {
            const email = input.ownerEmail.toLowerCase()
            const owner =
              rows(s.tables.users).find((u) => u.email === email) ??
              new User({ id: UserId.make(yield* nextId), email, name: input.ownerName })
            const trial = new Trial({
              id: TrialId.make(yield* nextId),
              ownerId: owner.id,
              ownerEmail: email,
              businessName: input.businessName,
              vapiAssistantId: input.vapiAssistantId,
              requestedAreaCode: input.requestedAreaCode,
              status: "active",
              businessId: null
            })
            const next = withTables((t) => ({
              ...t,
              users: put(t.users, owner.id, owner),
              trials: put(t.trials, trial.id, trial)
            }))(s)
            return [trial, next] as const
          })
        )
      )

      const convertTrial = Effect.fn("Repository.convertTrial")(function* (id: TrialId) {
        const now = yield* DateTime.now
        const conversion = yield* SynchronizedRef.modifyEffect(
          state,
          (s): Effect.Effect<readonly [Conversion | null, State]> =>
            Effect.gen(function* () {
              const trial = s.tables.trials.get(id)
              if (!trial) return [null, s]
              const existing = trial.businessId && s.tables.businesses.get(trial.businessId)
              if (existing) return [{ business: existing, created: false }, s]
              const business = new Business({
                id: BusinessId.make(yield* nextId),
                ownerId: trial.ownerId,
                name: trial.businessName,
                vapiAssistantId: trial.vapiAssistantId,
                requestedAreaCode: trial.requestedAreaCode,
                trialId: trial.id,
                status: "active",
                releaseAt: null,
                numberStatus: "pending",
                phoneNumber: null,
                assistantStatus: "pending",
                failureReason: null,
                createdAt: now,
                updatedAt: now
              })
              const converted = new Trial({ ...trial, status: "converted", businessId: business.id })
              const next = withTables((t) => ({ ...t, trials: put(t.trials, trial.id, converted) }))(s)
              return [{ business, created: true }, putBusiness(business)(next)]
            })
        )
        if (!conversion) return yield* new TrialNotFound({ trialId: id })
        return conversion
      })

      // The purchase marker a lock holder's recordNumber cleared, put back if the holder fails (as the table's
      // DELETE in the lock's transaction is rolled back); markers set on their own are never taken back.
      const clearedInLock = new Map<BusinessId, DateTime.Utc>()
      const restoreMarker = (id: BusinessId, s: State): State => {
        const marker = clearedInLock.get(id)
        return marker ? { ...s, purchasesInFlight: put(s.purchasesInFlight, id, marker) } : s
      }

      const withBusinessLock = <A, E, R>(
        id: BusinessId,
        use: (business: Business) => Effect.Effect<A, E, R>
      ) =>
        Effect.flatMap(lockOf(id), (lock) =>
          Semaphore.withPermit(
            lock,
            Effect.gen(function* () {
              const { business, released } = yield* read((t) => ({
                business: t.businesses.get(id),
                released: t.releasedNumbers
              }))
              if (!business) return yield* new BusinessNotFound({ businessId: id })
              // Like a rolled-back transaction: a failed or interrupted holder leaves the business as it found it,
              // and the numbers it recorded as released are not.
              const rollback = withTables((t) => ({
                ...t,
                releasedNumbers: t.releasedNumbers.filter((r) => r.businessId !== id || released.includes(r))
              }))
              return yield* use(business).pipe(
                Effect.onExit((exit) =>
                  (Exit.isSuccess(exit)
                    ? Effect.void
                    : SynchronizedRef.update(state, (s) =>
                        restoreMarker(id, rollback(putBusiness(business)(s)))
                      )
                  ).pipe(Effect.ensuring(Effect.sync(() => clearedInLock.delete(id))))
                )
              )
            })
          )
        )

      const recordNumber = Effect.fn("Repository.recordNumber")(function* (
        id: BusinessId,
        number: PhoneNumber
      ) {
        const clash = yield* read((t) => clashWith(t, id, number))
        if (clash)
          return yield* new RepositoryConflict({
            message: `a number is already recorded for business ${clash.id}`
          })
        const { after } = yield* update(
          id,
          (b) => new Business({ ...b, numberStatus: "assigned", phoneNumber: number, failureReason: null })
        )
        yield* SynchronizedRef.update(state, (s) => {
          const marker = s.purchasesInFlight.get(id)
          if (marker) clearedInLock.set(id, marker)
          return { ...s, purchasesInFlight: without(s.purchasesInFlight, id) }
        })
        return after
      })

      const markFailed = Effect.fn("Repository.markFailed")((id: BusinessId, reason: FailureReason) =>
        update(id, (b) => new Business({ ...b, numberStatus: "failed", failureReason: reason })).pipe(
          Effect.map(({ after }) => after)
        )
      )

      const markPending = Effect.fn("Repository.markPending")((id: BusinessId) =>
        update(id, (b) => new Business({ ...b, numberStatus: "pending", failureReason: null })).pipe(
          Effect.map(({ after }) => after)
        )
      )

      const setAssistantStatus = Effect.fn("Repository.setAssistantStatus")(
        (id: BusinessId, status: AssistantStatus, reason: FailureReason | null) =>
          update(id, (b) =>
            b.assistantStatus === status && b.failureReason === reason
              ? b
              : new Business({ ...b, assistantStatus: status, failureReason: reason })
          ).pipe(Effect.map(({ before, after }) => ({ business: after, changed: after !== before })))
      )

      const setBusinessStatus = Effect.fn("Repository.setBusinessStatus")(
        (id: BusinessId, status: BusinessStatus, releaseAt: DateTime.Utc | null) =>
          update(id, (b) => new Business({ ...b, status, releaseAt })).pipe(Effect.map(({ after }) => after))
      )

      const recordReleased = Effect.fn("Repository.recordReleased")(function* (id: BusinessId) {
        const { before, after } = yield* update(
          id,
          (b) => new Business({ ...b, numberStatus: "released", phoneNumber: null, releaseAt: null })
        )
        const number = before.phoneNumber
        yield* SynchronizedRef.update(state, (s) => ({
          ...withTables((t) => ({
            ...t,
            releasedNumbers: number ? [...t.releasedNumbers, { businessId: id, number }] : t.releasedNumbers
          }))(s),
          releasesInFlight: without(s.releasesInFlight, id)
        }))
        return after
      })

      // Markers commit on their own: no rollback of the lock holder's writes takes them back.
      const mark = (marker: Marker) =>
        Effect.fnUntraced(function* (id: BusinessId) {
          const now = yield* DateTime.now
          yield* SynchronizedRef.update(state, (s) => ({ ...s, [marker]: put(s[marker], id, now) }))
        })
      const clear = (marker: Marker) => (id: BusinessId) =>
        SynchronizedRef.update(state, (s) => ({ ...s, [marker]: without(s[marker], id) }))
      const since = (marker: Marker) => (id: BusinessId) =>
        Effect.map(SynchronizedRef.get(state), (s) => s[marker].get(id) ?? null)

      const upsertCall = Effect.fn("Repository.upsertCall")((call: Call) =>
        SynchronizedRef.modify(state, (s) => {
          const merged = mergeCall(s.tables.calls.get(call.vapiCallId), call)
          return [
            merged,
            withTables((t) => ({ ...t, calls: put(t.calls, call.vapiCallId, merged) }))(s)
          ] as const
        })
      )

      // One transaction at a time; a failed one puts back the tables it started from.
      const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Semaphore.withPermit(
          transactions,
          Effect.flatMap(SynchronizedRef.get(state), ({ tables: before }) =>
            effect.pipe(
              Effect.onExit((exit) =>
                Exit.isSuccess(exit)
                  ? Effect.void
                  : SynchronizedRef.update(
                      state,
                      withTables(() => before)
                    )
              )
            )
          )
        )

      const repository = Repository.of({
        createTrial,
        findTrial: (id: TrialId) => read((t) => t.trials.get(id) ?? null),
        findTrialByAssistant: (assistantId: AssistantId) =>
          read((t) => rows(t.trials).find((trial) => trial.vapiAssistantId === assistantId) ?? null),
        convertTrial,
        findBusiness: (id: BusinessId) => read((t) => t.businesses.get(id) ?? null),
        findBusinessWithOwner: (id: BusinessId) =>
          read((t) => {
            const business = t.businesses.get(id)
            const owner = business && t.users.get(business.ownerId)
            return business && owner ? { business, owner } : null
          }),
        businessesOf: (ownerId: UserId) =>
          read((t) =>
            rows(t.businesses)
              .filter((b) => b.ownerId === ownerId)
              .reverse()
          ),
        listBusinesses: (listing: BusinessListing) => read((t) => listingOf(t, listing)),
        findBusinessByAssistant: (assistantId: AssistantId) =>
          read((t) => rows(t.businesses).find((b) => b.vapiAssistantId === assistantId) ?? null),
        withBusinessLock,
        recordNumber,
        markFailed,
        markPending,
        setAssistantStatus,
        markPurchaseInFlight: mark("purchasesInFlight"),
        clearPurchaseInFlight: clear("purchasesInFlight"),
        purchaseInFlightSince: since("purchasesInFlight"),
        setBusinessStatus,
        markReleaseInFlight: mark("releasesInFlight"),
        clearReleaseInFlight: clear("releasesInFlight"),
        releaseInFlightSince: since("releasesInFlight"),
        recordReleased,
        upsertCall,
        recentCalls: (callableId: string, limit: number) =>
          read((t) =>
            rows(t.calls)
              .filter((c) => c.callableId === callableId)
              .slice(-limit)
              .reverse()
          ),
        transaction
      })
      return Context.make(Repository, repository).pipe(
        Context.add(
          MemoryRepositoryControl,
          MemoryRepositoryControl.of({
            businesses: read((t) => rows(t.businesses)),
            releasedNumbers: read((t) => t.releasedNumbers),
            counts: read((t) => ({
              users: t.users.size,
              trials: t.trials.size,
              businesses: t.businesses.size,
              calls: t.calls.size
            }))
          })
        )
      )
    })
  )

export const layer = layerWith({})
