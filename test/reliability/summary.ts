// After `bun run reliability`: every figure its tests reported, one line per check (test-output/figures/).
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { FIGURES_DIR } from "../support/figures.ts"

const files = existsSync(FIGURES_DIR) ? readdirSync(FIGURES_DIR).filter((f) => f.endsWith(".json")) : []
if (files.length === 0) {
  console.error("reliability summary: no figures were reported")
  process.exit(1)
}
console.log("\nreliability summary")
for (const file of files.sort()) {
  const { name, figures } = JSON.parse(readFileSync(join(FIGURES_DIR, file), "utf8")) as {
    readonly name: string
    readonly figures: Record<string, unknown>
  }
  const line = Object.entries(figures)
    .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(", ")
  console.log(`  ${name}: ${line}`)
}
