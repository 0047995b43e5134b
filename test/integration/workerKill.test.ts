// A worker killed with SIGKILL in the middle of an assignment (before the purchase; after it but before the
// number is recorded; while a purchase that Twilio completes only later is out): once another worker takes the
// job over, the business has one number, bought once.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { convertTrial } from "../../src/app/usecases/ConvertTrial.ts"
import type { BusinessId } from "../../src/domain/ids.ts"
import { Repository } from "../../src/ports/Repository.ts"
import { startFakeTwilio } from "../support/fakeTwilio.ts"
import { newTrial } from "../support/fixtures.ts"
import { eventually, spawnService } from "../support/processes.ts"
import { databaseUrlOf, workerEnv, workerHarness } from "../support/processStack.ts"

/** Converts trials and reads their numbers through the test process's own stack. */
const businessesOn = (runtime: ReturnType<typeof workerHarness>["runtime"]) => ({
  convert: () =>
    runtime.runPromise(
      Repository.use((r) => r.createTrial(newTrial())).pipe(Effect.flatMap((trial) => convertTrial(trial.id)))
    ),
  assignedNumber: (id: BusinessId) =>
    runtime.runPromise(Repository.use((r) => r.findBusiness(id))).then((b) => b?.phoneNumber ?? null)
})

describe("a worker killed mid-assignment", () => {
  const { twilio, runtime, workers } = workerHarness(startFakeTwilio({ defaultStock: 10 }))

  const { convert, assignedNumber } = businessesOn(runtime)

  it("is replaced, and the business ends with exactly one purchase", { timeout: 400_000 }, async () => {
    const databaseUrl = await databaseUrlOf(runtime)
    const env = workerEnv(databaseUrl, twilio)
    for (const [index, when] of (["after", "before"] as const).entries()) {
      twilio.holdNextPurchase(when)
      const business = await convert()
      const doomed = spawnService(env)
      workers.push(doomed)
      await twilio.held(index + 1)
      const bought = twilio.purchases().filter((p) => p.friendlyName === `business:${business.id}`)
      assert.strictEqual(bought.length, when === "after" ? 1 : 0, `killed ${when} the purchase`)
      await doomed.kill("SIGKILL")

      const started = Date.now()
      workers.push(spawnService(env))
      // A takeover waits for the dead worker's heartbeat to lapse (about 15-40 s here; longer on a busy machine).
      await eventually(
        async () => (await assignedNumber(business.id)) !== null,
        "the job taken over",
        180_000
      )
      console.log(
        `kill ${when} purchase: taken over and assigned in ${((Date.now() - started) / 1000).toFixed(1)} s`
      )

      const purchases = twilio.purchases().filter((p) => p.friendlyName === `business:${business.id}`)
      assert.strictEqual(purchases.length, 1, "bought once")
      assert.strictEqual(
        (await assignedNumber(business.id))?.twilioSid,
        purchases[0]?.sid,
        "the bought number is the one recorded"
      )
      await Promise.all(workers.splice(0).map((w) => w.kill("SIGTERM")))
    }
  })
})

describe("a worker killed while its purchase is out", () => {
  const { twilio, runtime, workers } = workerHarness(startFakeTwilio({ defaultStock: 10 }))
  const { convert, assignedNumber } = businessesOn(runtime)

  it("which Twilio completes only after the job was taken over: the successor waits for it, buys nothing", {
    timeout: 300_000
  }, async () => {
    const databaseUrl = await databaseUrlOf(runtime)
    const env = workerEnv(databaseUrl, twilio, { PURCHASE_SETTLE_SECONDS: "600" })
    twilio.holdNextPurchase("late")
    const business = await convert()
    const doomed = spawnService(env)
    workers.push(doomed)
    await twilio.held(1)
    await doomed.kill("SIGKILL")

    // The successor takes the job over and meets the marker: it reconciles, finds nothing, and does not buy.
    const successor = spawnService(env)
    workers.push(successor)
    await eventually(
      async () => successor.output().includes("may still land: not buying yet"),
      "the successor to meet the purchase marker",
      240_000
    )
    assert.deepStrictEqual(twilio.purchases(), [], "nothing bought while the first purchase may land")

    // Twilio completes the dead worker's purchase; a later attempt finds and records it.
    twilio.completeLatePurchases()
    await eventually(
      async () => (await assignedNumber(business.id)) !== null,
      "the late number recorded",
      60_000
    )
    const purchases = twilio.purchases().filter((p) => p.friendlyName === `business:${business.id}`)
    assert.strictEqual(purchases.length, 1, "bought once, by the dead worker's request")
    assert.strictEqual((await assignedNumber(business.id))?.twilioSid, purchases[0]?.sid)
    assert.strictEqual(twilio.purchases().length, 1)
    await Promise.all(workers.splice(0).map((w) => w.kill("SIGTERM")))
  })
})
