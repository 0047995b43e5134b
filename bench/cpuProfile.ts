// Reads a Bun `--cpu-prof` profile: where its samples' self time went, by package (native frames such as writes,
// JSON and Date charged to the nearest JavaScript caller's) and by function. Shared by bench/profile.ts (the
// service under wrk) and bench/routeCpu.ts (a route run in process).
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

interface Node {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}

/** The profile Bun wrote in `directory` for process `pid` (it names one CPU.<date>.<time>.<pid>.<n>.<seq>.cpuprofile). */
export const profileOf = (directory: string, pid: number): string => {
  const file = readdirSync(directory).find(
    (name) => name.endsWith(".cpuprofile") && name.split(".")[3] === String(pid)
  )
  if (!file) throw new Error(`no profile of process ${pid} in ${directory}`)
  return join(directory, file)
}

/** `effect/dist/Schema.js` → `effect` (its Schema, sql and http modules apart, being the costs asked about). */
const packageOf = (url: string) => {
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)/.exec(url)
  if (inPackage) {
    const [, name, rest = ""] = inPackage
    if (name !== "effect") return name ?? "other"
    if (/Schema|schema\//.test(rest)) return "effect (Schema)"
    if (rest.startsWith("dist/sql/")) return "effect (sql)"
    if (rest.startsWith("dist/http/")) return "effect (http)"
    if (/Tracer|tracer/.test(rest)) return "effect (Tracer)"
    return "effect (runtime)"
  }
  if (url.includes("/src/")) return `src/${url.split("/src/")[1]?.split("/").slice(0, -1).join("/")}`
  if (url.includes("/test/")) return "test/support"
  // Bun's own JavaScript: node:net and its streams (the Postgres driver's socket), internal:sql (Bun's SQL client).
  if (/^(node|internal):/.test(url)) return url.split("/")[0] ?? url
  return url ? "other" : "(native)"
}

export interface Share {
  readonly name: string
  readonly share: string
}

/** Self time by package and by function (the top `top` of each), as shares of the busy (not idle) samples. */
export const splitProfile = (file: string, top = 30) => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as {
    nodes: ReadonlyArray<Node>
    samples: ReadonlyArray<number>
    timeDeltas: ReadonlyArray<number>
  }
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => {
    if (byId.get(id)?.callFrame.functionName === "(idle)") return
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  })
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const callerPackage = (node: Node): string => {
    for (let at: Node | undefined = node; at; at = byId.get(parentOf.get(at.id) ?? -1))
      if (at.callFrame.url) return packageOf(at.callFrame.url)
    return "(native)"
  }
  const tally = (key: (node: Node) => string): ReadonlyArray<Share> => {
    const sums = new Map<string, number>()
    for (const [id, micros] of self) {
      const node = byId.get(id)
      if (node) sums.set(key(node), (sums.get(key(node)) ?? 0) + micros)
    }
    return [...sums]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => ({ name, share: `${((micros / total) * 100).toFixed(1)} %` }))
  }
  return {
    samples: profile.samples.length,
    byPackage: tally(callerPackage),
    byFunction: tally(
      (node) =>
        `${node.callFrame.functionName || "(anonymous)"} ${node.callFrame.url.replace(/.*node_modules\//, "")}:${node.callFrame.lineNumber}`
    )
  }
}
