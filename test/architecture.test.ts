// The arrows that must never be, read from the source: every relative import in src/ is checked against the
// layering (domain <- ports <- adapters; domain <- ports <- use cases <- http; only compositions and entry
// points choose adapters). A new file that breaks it fails here, naming the import.
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { describe, expect, it } from "@effect/vitest"

const SRC = resolve(import.meta.dirname, "../src")

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [join(dir, entry.name)]
        : []
  )

/** Every relative import of every source file, as paths under src/. */
const imports = sources(SRC).flatMap((file) => {
  const text = readFileSync(file, "utf8")
  return [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms)].map((match) => ({
    from: relative(SRC, file),
    to: relative(SRC, resolve(dirname(file), match[1] ?? ""))
  }))
})

const under = (path: string, folder: string) => path === folder || path.startsWith(`${folder}/`)
const adapterOf = (path: string) => (under(path, "adapters") ? path.split("/")[1] : undefined)

/** Each rule: which importing files it covers, and which imports it forbids them. */
const rules: ReadonlyArray<{
  readonly name: string
  readonly covers: (from: string) => boolean
  readonly forbids: (to: string, from: string) => boolean
}> = [
  {
    name: "domain imports nothing outside the domain",
    covers: (from) => under(from, "domain"),
    forbids: (to) => !under(to, "domain")
  },
  {
    name: "ports import only the domain and other ports",
    covers: (from) => under(from, "ports"),
    forbids: (to) => !under(to, "domain") && !under(to, "ports")
  },
  {
    name: "adapters import no application code and no other adapter",
    covers: (from) => under(from, "adapters"),
    forbids: (to, from) => under(to, "app") || (under(to, "adapters") && adapterOf(to) !== adapterOf(from))
  },
  {
    name: "use cases import no adapter, HTTP, composition or entry point",
    covers: (from) => under(from, "app/usecases"),
    forbids: (to) =>
      under(to, "adapters") || under(to, "app/http") || under(to, "app/layers") || under(to, "app/entry")
  },
  {
    name: "HTTP imports no adapter",
    covers: (from) => under(from, "app/http"),
    forbids: (to) => under(to, "adapters") || under(to, "app/entry")
  }
]

describe("the layering of src/", () => {
  it("reads the imports it checks", () => {
    expect(imports.length).toBeGreaterThan(100)
    expect(imports.some((i) => under(i.from, "app/usecases"))).toBe(true)
  })

  for (const rule of rules) {
    it(rule.name, () => {
      const broken = imports
        .filter((i) => rule.covers(i.from) && rule.forbids(i.to, i.from))
        .map((i) => `${i.from} -> ${i.to}`)
      expect(broken).toEqual([])
    })
  }
})
