// After `bun run reliability`: every figure its tests reported, one line per check (test-output/figures/),
// then the figures that have a target of their own, met or missed.
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { FIGURES_DIR } from "../support/figures.ts"

const files = existsSync(FIGURES_DIR) ? readdirSync(FIGURES_DIR).filter((f) => f.endsWith(".json")) : []
if (files.length === 0) {
  console.error("reliability summary: no figures were reported")
  process.exit(1)
}
/** Figures with a target of their own: printed again at the end, met or missed. */
const TARGETS: ReadonlyArray<{ readonly check: string; readonly figure: string; readonly target: number }> = [
  { check: "event storm", figure: "lost", target: 0 },
  { check: "event storm", figure: "duplicated", target: 0 }
]

const reported = new Map<string, Record<string, unknown>>()
console.log("\nreliability summary")
for (const file of files.sort()) {
  const { name, figures } = JSON.parse(readFileSync(join(FIGURES_DIR, file), "utf8")) as {
    readonly name: string
    readonly figures: Record<string, unknown>
  }
  reported.set(name, figures)
  const line = Object.entries(figures)
    .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(", ")
  console.log(`  ${name}: ${line}`)
}
for (const { check, figure, target } of TARGETS) {
  const value = reported.get(check)?.[figure]
  const state = value === undefined ? "not reported" : value === target ? "met" : "MISSED"
  console.log(`  target: ${check} ${figure} ${value ?? "-"} (target ${target}): ${state}`)
}
