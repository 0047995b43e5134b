// Reads Prometheus's text exposition format (0.0.4) into samples, enough to hold /metrics to account:
// `name{label="value",...} number` lines, comments skipped, label values unescaped.

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g

const unescapeLabel = (value: string) => value.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))

const number = (text: string) =>
  text === "+Inf" ? Number.POSITIVE_INFINITY : text === "-Inf" ? Number.NEGATIVE_INFINITY : Number(text)

/** Every sample of the text; a line that is neither a comment nor a sample fails the parse. */
export const parsePrometheus = (text: string): Array<Sample> =>
  text
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => {
      const match = LINE.exec(line)
      if (!match) throw new Error(`not a Prometheus sample line: ${line}`)
      const [, name = "", labelText = "", value = ""] = match
      const labels = Object.fromEntries(
        [...labelText.matchAll(LABEL)].map(([, k = "", v = ""]) => [k, unescapeLabel(v)])
      )
      return { name, labels, value: number(value) }
    })

/** The sum of the samples named `name` whose labels include `labels` (0 when there is none). */
export const sumOf = (samples: ReadonlyArray<Sample>, name: string, labels: Record<string, string> = {}) =>
  samples
    .filter(
      (sample) =>
        sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
    )
    .reduce((sum, sample) => sum + sample.value, 0)
