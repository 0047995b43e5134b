// What is near an area code (overlays and state, from NANPA's vendored report), and the chain `nearby` makes.
import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { CSV_PATH, MODULE_PATH, renderUsAreaCodes } from "../../scripts/usAreaCodes.ts"
import { areaCodeChain, type ChainStep, purchaseChain, stepLabel } from "../../src/domain/areaCodeChain.ts"
import { areaCodesIn, nearbyOf, type UsState } from "../../src/domain/nearby.ts"
import type { AreaCode } from "../../src/domain/phone.ts"

const code = (c: string) => c as AreaCode
const labels = (steps: ReadonlyArray<ChainStep>) => steps.map(stepLabel)

describe("nearbyOf", () => {
  it.effect("names the codes that overlay a US code, and its state", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(nearbyOf(code("212")), { overlays: ["332", "646", "917"], state: "NY" } as never)
      assert.deepStrictEqual(nearbyOf(code("415")), { overlays: ["628"], state: "CA" } as never)
      assert.deepStrictEqual(nearbyOf(code("650")), { overlays: [], state: "CA" } as never)
      assert.deepStrictEqual(nearbyOf(code("202")), { overlays: ["771"], state: "DC" } as never)
    })
  )

  it.effect("reads OVERLAY_COMPLEX both ways and across complexes, whatever the OVERLAY flag says", () =>
    Effect.sync(() => {
      // 510 and 341 share one complex (`341/510`).
      assert.deepStrictEqual(nearbyOf(code("510"))?.overlays, ["341"] as never)
      assert.deepStrictEqual(nearbyOf(code("341"))?.overlays, ["510"] as never)
      // 917 overlays Manhattan (212/332/646/917) and the other boroughs (347/718/917/929).
      assert.deepStrictEqual(nearbyOf(code("917"))?.overlays, [
        "212",
        "332",
        "347",
        "646",
        "718",
        "929"
      ] as never)
      // Each overlay is mutual.
      for (const state of ["NY", "CA", "TX"].map((s) => s as UsState))
        for (const c of areaCodesIn(state))
          for (const other of nearbyOf(c)?.overlays ?? [])
            assert.include(nearbyOf(other)?.overlays ?? [], c, `${c} and ${other}`)
    })
  )

  it.effect("knows nothing of Canadian, Caribbean, non-geographic, unassigned or territory codes", () =>
    Effect.sync(() => {
      // Vancouver, Toronto, Jamaica, toll-free, unassigned, Puerto Rico.
      for (const c of ["604", "416", "876", "800", "999", "787"]) assert.isNull(nearbyOf(code(c)), c)
    })
  )

  it.effect("lists a state's codes in numeric order", () =>
    Effect.sync(() => {
      const ny = areaCodesIn("NY" as UsState)
      assert.includeMembers([...ny], ["212", "315", "332", "347", "516", "646", "718", "917", "929"])
      assert.deepStrictEqual([...ny], [...ny].sort())
      assert.deepStrictEqual([...areaCodesIn("AK" as UsState)], ["907"])
    })
  )

  it("is what scripts/usAreaCodes.ts makes of the vendored report (regenerate after replacing it)", () => {
    assert.strictEqual(readFileSync(MODULE_PATH, "utf8"), renderUsAreaCodes(readFileSync(CSV_PATH, "utf8")))
  })
})

describe("purchaseChain with nearby", () => {
  const FALLBACKS = ["nearby", "415", "510", "650"]

  it.effect("expands nearby at its place: the requested code's overlays, then its state", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(labels(purchaseChain("212", FALLBACKS)), [
        "212",
        "332",
        "646",
        "917",
        "state NY",
        "415",
        "510",
        "650"
      ])
      assert.deepStrictEqual(labels(purchaseChain("212", ["415", "nearby"])), [
        "212",
        "415",
        "332",
        "646",
        "917",
        "state NY"
      ])
      // Codes and states appear once: 510 is the request, 415 in the fallbacks, both in California.
      assert.deepStrictEqual(labels(purchaseChain("510", [...FALLBACKS, "nearby"])), [
        "510",
        "341",
        "state CA",
        "415",
        "650"
      ])
      assert.deepStrictEqual(purchaseChain("212", ["nearby"])[4], { _tag: "Region", region: "NY" } as never)
    })
  )

  it.effect("is nothing without a US request: none, an invalid one, or a Canadian one", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(labels(purchaseChain(null, FALLBACKS)), ["415", "510", "650"])
      assert.deepStrictEqual(labels(purchaseChain("911", FALLBACKS)), ["415", "510", "650"])
      assert.deepStrictEqual(labels(purchaseChain("nearby", FALLBACKS)), ["415", "510", "650"])
      assert.deepStrictEqual(labels(purchaseChain("604", FALLBACKS)), ["604", "415", "510", "650"])
    })
  )

  it.effect("areaCodeChain is the chain's codes, its states left out", () =>
    Effect.sync(() => {
      assert.deepStrictEqual<ReadonlyArray<string>>(areaCodeChain("212", FALLBACKS), [
        "212",
        "332",
        "646",
        "917",
        "415",
        "510",
        "650"
      ])
    })
  )
})
