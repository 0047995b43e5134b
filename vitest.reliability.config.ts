import { defineConfig } from "vitest/config"

// `bun run reliability`: the long, loud tests (kill storms, provider chaos, a database restart), and the
// property and fuzz suites at full size. Not part of `bun run test`.
export default defineConfig({
  test: {
    include: [
      "test/reliability/**/*.reliability.ts",
      "test/app/usecases/AssignNumber.property.test.ts",
      "test/app/usecases/NumberLifecycle.property.test.ts",
      "test/app/http/fuzz.test.ts",
      "test/app/http/cableFuzz.test.ts"
    ],
    pool: "threads",
    globalSetup: ["test/support/globalDatabase.ts"],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 120_000,
    silent: "passed-only"
  }
})
