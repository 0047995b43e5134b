// In-memory Repository: maps in one process, a real per-business lock (concurrent fibers contend for it),
// rollback of what a failed lock holder or transaction wrote, and the same uniqueness rules as the tables.
import { Context, DateTime, Effect, Exit, Layer, Semaphore } from "effect"
import { type AssistantStatus, Business, Call, type PhoneNumber, Trial, User } from "../../domain/entities.ts"
import { BusinessNotFound, type FailureReason, TrialNotFound } from "../../domain/errors.ts"
import type { AssistantId, BusinessId, TrialId, UserId } from "../../domain/ids.ts"
import { type NewTrial, Repository, RepositoryConflict } from "../../ports/Repository.ts"

interface Tables {
  users: Map<string, User>
  trials: Map<string, Trial>
  businesses: Map<string, Business>
  calls: Map<string, Call>
}

const copy = (t: Tables): Tables => ({
  users: new Map(t.users),
  trials: new Map(t.trials),
  businesses: new Map(t.businesses),
  calls: new Map(t.calls)
})

/** Lets tests look at every business at once (the Postgres adapter answers the same through SQL). */
export class MemoryRepositoryControl extends Context.Service<
  MemoryRepositoryControl,
  {
    readonly businesses: Effect.Effect<ReadonlyArray<Business>>
    /** How many rows each table holds (a test checks that bad requests change nothing). */
    readonly counts: Effect.Effect<Readonly<Record<"users" | "trials" | "businesses" | "calls", number>>>
  }
>()("numbers/adapters/memory/MemoryRepositoryControl") {}

export interface MemoryRepositoryOptions {
  /** How new ids are made (tests that replay recorded HTTP need the same ids every run). */
  readonly newId?: () => string
}

export const layerWith = (options: MemoryRepositoryOptions) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const newId = options.newId ?? (() => crypto.randomUUID())
      let tables: Tables = {
        users: new Map(),
        trials: new Map(),
        businesses: new Map(),
        calls: new Map()
      }
      // Purchase markers live outside the tables: they commit on their own, and no rollback takes them back.
      const purchasesInFlight = new Map<string, DateTime.Utc>()
      const locks = new Map<string, Semaphore.Semaphore>()
      const transactions = yield* Semaphore.make(1)
      const lockOf = (id: string) => {
        const existing = locks.get(id)
        if (existing) return existing
        const lock = Semaphore.makeUnsafe(1)
        locks.set(id, lock)
        return lock
      }
      const read = <A>(f: (t: Tables) => A) => Effect.sync(() => f(tables))

      const createTrial = Effect.fn("Repository.createTrial")(function* (input: NewTrial) {
        return yield* Effect.sync(() => {
          const email = input.ownerEmail.toLowerCase()
          let owner = [...tables.users.values()].find((u) => u.email === email)
          if (!owner) {
            owner = new User({ id: newId() as UserId, email, name: input.ownerName })
            tables.users.set(owner.id, owner)
          }
          const trial = new Trial({
            id: newId() as TrialId,
            ownerId: owner.id,
            ownerEmail: email,
            businessName: input.businessName,
            vapiAssistantId: input.vapiAssistantId,
            requestedAreaCode: input.requestedAreaCode,
            status: "active",
            businessId: null
          })
          tables.trials.set(trial.id, trial)
          return trial
        })
      })

      const convertTrial = Effect.fn("Repository.convertTrial")(function* (id: TrialId) {
        const now = yield* DateTime.now
        const conversion = yield* Effect.sync(() => {
          const trial = tables.trials.get(id)
          if (!trial) return null
          if (trial.businessId) {
            const business = tables.businesses.get(trial.businessId)
            if (business) return { business, created: false }
          }
          const business = new Business({
            id: newId() as BusinessId,
            ownerId: trial.ownerId,
            name: trial.businessName,
            vapiAssistantId: trial.vapiAssistantId,
            requestedAreaCode: trial.requestedAreaCode,
            trialId: trial.id,
            numberStatus: "pending",
            phoneNumber: null,
            assistantStatus: "pending",
            failureReason: null,
            createdAt: now
          })
          tables.businesses.set(business.id, business)
          tables.trials.set(trial.id, new Trial({ ...trial, status: "converted", businessId: business.id }))
          return { business, created: true }
        })
        if (!conversion) return yield* new TrialNotFound({ trialId: id })
        return conversion
      })

      const withBusinessLock = <A, E, R>(
        id: BusinessId,
        use: (business: Business) => Effect.Effect<A, E, R>
      ) =>
        lockOf(id).withPermits(1)(
          Effect.gen(function* () {
            const business = tables.businesses.get(id)
            if (!business) return yield* new BusinessNotFound({ businessId: id })
            // Like a rolled-back transaction: a failed or interrupted holder leaves the business as it found it.
            return yield* use(business).pipe(
              Effect.onExit((exit) =>
                Exit.isSuccess(exit)
                  ? Effect.void
                  : Effect.sync(() => {
                      tables.businesses.set(id, business)
                    })
              )
            )
          })
        )

      const update = (id: BusinessId, f: (b: Business) => Business) =>
        Effect.sync(() => {
          const business = tables.businesses.get(id)
          if (!business) throw new Error(`business ${id} vanished while locked`)
          const next = f(business)
          tables.businesses.set(id, next)
          return next
        })

      const recordNumber = Effect.fn("Repository.recordNumber")(function* (
        id: BusinessId,
        number: PhoneNumber
      ) {
        const clash = yield* read((t) =>
          [...t.businesses.values()].find(
            (b) =>
              b.phoneNumber !== null &&
              (b.id === id ||
                b.phoneNumber.e164 === number.e164 ||
                b.phoneNumber.twilioSid === number.twilioSid)
          )
        )
        if (clash)
          return yield* new RepositoryConflict({
            message: `a number is already recorded for business ${clash.id}`
          })
        return yield* update(
          id,
          (b) => new Business({ ...b, numberStatus: "assigned", phoneNumber: number, failureReason: null })
        )
      })

      const markFailed = Effect.fn("Repository.markFailed")(function* (
        id: BusinessId,
        reason: FailureReason
      ) {
        return yield* update(id, (b) => new Business({ ...b, numberStatus: "failed", failureReason: reason }))
      })

      const markPending = Effect.fn("Repository.markPending")(function* (id: BusinessId) {
        return yield* update(id, (b) => new Business({ ...b, numberStatus: "pending", failureReason: null }))
      })

      const setAssistantStatus = Effect.fn("Repository.setAssistantStatus")(function* (
        id: BusinessId,
        status: AssistantStatus,
        reason: FailureReason | null
      ) {
        const before = yield* read((t) => t.businesses.get(id))
        if (before?.assistantStatus === status && before.failureReason === reason) {
          return { business: before, changed: false }
        }
        const business = yield* update(
          id,
          (b) => new Business({ ...b, assistantStatus: status, failureReason: reason })
        )
        return { business, changed: true }
      })

      const markPurchaseInFlight = Effect.fn("Repository.markPurchaseInFlight")(function* (id: BusinessId) {
        const now = yield* DateTime.now
        yield* Effect.sync(() => purchasesInFlight.set(id, now))
      })

      const upsertCall = Effect.fn("Repository.upsertCall")(function* (call: Call) {
        return yield* Effect.sync(() => {
          // As the table's upsert: the new status wins; what a later event leaves out is kept.
          const known = tables.calls.get(call.vapiCallId)
          const merged = known
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
          tables.calls.set(call.vapiCallId, merged)
          return merged
        })
      })

      const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        transactions.withPermits(1)(
          Effect.suspend(() => {
            const before = copy(tables)
            return effect.pipe(
              Effect.onExit((exit) =>
                Exit.isSuccess(exit)
                  ? Effect.void
                  : Effect.sync(() => {
                      tables = before
                    })
              )
            )
          })
        )

      const repository = Repository.of({
        createTrial,
        findTrial: (id: TrialId) => read((t) => t.trials.get(id) ?? null),
        findTrialByAssistant: (assistantId: AssistantId) =>
          read((t) => [...t.trials.values()].find((trial) => trial.vapiAssistantId === assistantId) ?? null),
        convertTrial,
        findBusiness: (id: BusinessId) => read((t) => t.businesses.get(id) ?? null),
        findBusinessWithOwner: (id: BusinessId) =>
          read((t) => {
            const business = t.businesses.get(id)
            const owner = business && t.users.get(business.ownerId)
            return business && owner ? { business, owner } : null
          }),
        businessesOf: (ownerId: UserId) =>
          read((t) => [...t.businesses.values()].filter((b) => b.ownerId === ownerId).reverse()),
        findBusinessByAssistant: (assistantId: AssistantId) =>
          read((t) => [...t.businesses.values()].find((b) => b.vapiAssistantId === assistantId) ?? null),
        withBusinessLock,
        recordNumber,
        markFailed,
        markPending,
        setAssistantStatus,
        markPurchaseInFlight,
        clearPurchaseInFlight: (id: BusinessId) => Effect.sync(() => void purchasesInFlight.delete(id)),
        purchaseInFlightSince: (id: BusinessId) => Effect.sync(() => purchasesInFlight.get(id) ?? null),
        upsertCall,
        recentCalls: (callableId: string, limit: number) =>
          read((t) =>
            [...t.calls.values()]
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
            businesses: read((t) => [...t.businesses.values()]),
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
