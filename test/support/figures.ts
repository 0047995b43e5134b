// Figures a long test measures (counts, seconds): printed, and kept in test-output/figures/ so that a run's
// summary can show them (passing tests' output is silenced).
import { mkdirSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"

export const FIGURES_DIR = resolve(import.meta.dirname, "../../test-output/figures")

export const reportFigures = (name: string, figures: Readonly<Record<string, unknown>>) => {
  console.log(`${name}: ${JSON.stringify(figures)}`)
  mkdirSync(FIGURES_DIR, { recursive: true })
  writeFileSync(
    join(FIGURES_DIR, `${name.replaceAll(/[^a-z0-9]+/gi, "-")}.json`),
    JSON.stringify({ name, figures })
  )
}
