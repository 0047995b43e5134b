// How many cases a property test generates, and the case to run again after a failure: PROPERTY_RUNS scales the
// generated cases; PROPERTY_REPLAY holds the `Replay:` token a falsified run printed (run it with -t naming its
// test: a token replays the test it came from).
import type { Arbitrary } from "effect"

/** PROPERTY_RUNS, or the default (3000). */
export const propertyRuns = (): number => Number(process.env.PROPERTY_RUNS ?? 3000)

/** `Arbitrary.checkEffect`'s options: `runs` cases, or the one PROPERTY_REPLAY names. */
export const checkOptions = (runs: number): Arbitrary.CheckOptions => {
  const replay = process.env.PROPERTY_REPLAY?.trim()
  return replay ? { runs, replay } : { runs }
}
