// Two sandbox processes on one database: the simulated Twilio's inventory is shared through Postgres, so
// conversions entering through either process, whichever worker runs them, never get the same number.
import { assert, describe, it } from "@effect/vitest"
import { Effect, ManagedRuntime, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import * as Database from "../../src/adapters/postgres/Database.ts"
import { DatabaseUrl } from "../../src/adapters/postgres/Database.ts"
import { freshDatabaseUrl } from "../support/database.ts"
import { freePort, type ServiceProcess, spawnService, untilReady } from "../support/processes.ts"
import { convertAndSettle, printedTrial } from "../support/sandbox.ts"

const TRIALS_PER_PROCESS = 6

describe("two sandbox processes on one database", () => {
  it("assign every business a number of its own", { timeout: 180_000 }, async () => {
    const database = ManagedRuntime.make(freshDatabaseUrl)
    const services: Array<ServiceProcess> = []
    try {
      const databaseUrl = await database.runPromise(
        DatabaseUrl.use((url) => Effect.succeed(Redacted.value(url)))
      )
      const env = {
        DATABASE_URL: databaseUrl,
        AUTH_SECRET: "sandbox-pair-auth",
        VAPI_WEBHOOK_SECRET: "sandbox-pair-vapi"
      }
      const ports = [freePort(), freePort()]
      for (const port of ports) services.push(spawnService({ ...env, PORT: String(port) }))
      const printed = await Promise.all(services.map((service) => printedTrial(service)))
      await Promise.all(printed.map(({ base }) => untilReady(base)))

      // Each process's printed trial, and more trials created and converted through each.
      const conversions = printed.flatMap(({ base, serviceToken, trialId }) => [
        { base, serviceToken, trialId: Promise.resolve(trialId) },
        ...Array.from({ length: TRIALS_PER_PROCESS }, (_, i) => ({
          base,
          serviceToken,
          trialId: fetch(`${base}/api/trials`, {
            method: "POST",
            headers: { authorization: `Bearer ${serviceToken}`, "content-type": "application/json" },
            body: JSON.stringify({
              ownerEmail: `pair-${i}@example.com`,
              ownerName: `Owner ${i}`,
              businessName: `Pair ${base} ${i}`,
              vapiAssistantId: `pair-assistant-${i}`,
              requestedAreaCode: i % 2 === 0 ? "650" : "212"
            })
          })
            .then((r) => r.json() as Promise<{ trial: { id: string } }>)
            .then(({ trial }) => trial.id)
        }))
      ])
      const businesses = await Promise.all(
        conversions.map(async ({ base, serviceToken, trialId }) =>
          convertAndSettle(base, await trialId, serviceToken)
        )
      )

      const output = services.map((s) => s.output()).join("\n")
      assert.deepStrictEqual(
        businesses.map((b) => b.numberStatus),
        businesses.map(() => "assigned"),
        output
      )
      const numbers = businesses.map((b) => b.phoneNumber?.e164)
      assert.strictEqual(new Set(numbers).size, conversions.length, `distinct numbers: ${numbers.join(", ")}`)
      // No attempt collided with a number sold by the other process, and the simulated account sold one number
      // per business, no more.
      assert.notInclude(output, "failed; retrying")
      const sold = await database.runPromise(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          return yield* sql<{ readonly e164: string }>`SELECT e164 FROM sandbox_twilio_numbers ORDER BY e164`
        }).pipe(Effect.provide(Database.clientLayer()))
      )
      assert.deepStrictEqual(
        sold.map((row) => row.e164),
        [...numbers].sort()
      )
      for (const service of services) assert.strictEqual(await service.kill("SIGTERM"), 0, service.output())
    } finally {
      await Promise.all(services.map((s) => s.kill("SIGKILL")))
      await database.dispose()
    }
  })
})
