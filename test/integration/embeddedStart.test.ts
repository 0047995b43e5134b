// `bun start` with no DATABASE_URL: an embedded PostgreSQL under the data directory, initialised on the first
// start and reused on the next; SIGTERM stops the service and the database with it. Each start's printed trial
// converts to a number of its own: the sandbox's simulated Twilio remembers what it sold across restarts.
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { nearbyOf } from "../../src/domain/nearby.ts"
import { areaCodeOf, type E164 } from "../../src/domain/phone.ts"
import { eventually, freePort, spawnService } from "../support/processes.ts"
import { convertAndSettle, printedTrial } from "../support/sandbox.ts"

const postgresRunningIn = async (dataDir: string) => {
  const ps = Bun.spawnSync(["ps", "-eo", "args"])
  return ps.stdout
    .toString()
    .split("\n")
    .some((line) => line.includes("postgres") && line.includes(dataDir))
}

describe("bun start on the embedded default", () => {
  it("comes up ready cold and warm, converts each start's printed trial, and stops its database on SIGTERM", {
    timeout: 180_000
  }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "numbers-embedded-"))
    // As root, Postgres runs as its own user and must be able to enter the directory (./.data is 755).
    chmodSync(dataDir, 0o755)
    const numbers: Array<string | undefined> = []
    try {
      for (const start of ["cold", "warm"] as const) {
        const port = freePort()
        const began = Date.now()
        const service = spawnService({ PORT: String(port), DATA_DIR: dataDir, DATABASE_URL: "" })
        await eventually(
          () =>
            fetch(`http://127.0.0.1:${port}/ready`)
              .then((r) => r.status === 200)
              .catch(() => false),
          `${start} start to /ready`,
          60_000
        )
        console.log(`${start} start to /ready: ${Date.now() - began} ms`)
        assert.isTrue(
          await postgresRunningIn(join(dataDir, "pg")),
          "the embedded server runs in the data directory"
        )
        // As a newcomer would: the curl the start printed, then the business until it has its number.
        const trial = await printedTrial(service)
        const business = await convertAndSettle(trial.base, trial.trialId, trial.serviceToken)
        assert.strictEqual(business.numberStatus, "assigned", service.output())
        // Asked for 212; 212 and its overlays are sold out in the sandbox, so a New York number, found by
        // searching the state (the sandbox's chain starts with `nearby`).
        const areaCode = areaCodeOf((business.phoneNumber?.e164 ?? "") as E164)
        assert.strictEqual(areaCode && nearbyOf(areaCode)?.state, "NY", business.phoneNumber?.e164)
        assert.notInclude(["212", "332", "646", "917"], areaCode)
        numbers.push(business.phoneNumber?.e164)
        assert.strictEqual(await service.kill("SIGTERM"), 0, service.output())
        assert.isFalse(await postgresRunningIn(join(dataDir, "pg")), "stopped with the service")
      }
      assert.strictEqual(new Set(numbers).size, 2, `two starts, two numbers: ${numbers.join(", ")}`)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
