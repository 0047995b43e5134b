import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // vitest 5 runs under Bun (`bun --bun vitest run`); the threads pool is the one that works there.
    pool: "threads",
    // One Postgres server for the run: DATABASE_URL, or an embedded one (each suite gets its own database).
    globalSetup: ["test/support/globalDatabase.ts"],
    testTimeout: 30_000,
    // Logs of passing tests are noise; a failing test shows its own.
    silent: "passed-only"
  }
})
