import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // vitest 5 runs under Bun (`bun --bun vitest run`); the threads pool is the one that works there.
    pool: "threads",
    testTimeout: 30_000
  }
})
