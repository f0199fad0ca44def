import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["backend/**/*.test.ts", "shared/**/*.test.ts", "frontend/**/*.test.ts", "tests/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Black-box and crash tests start real servers; keep files from competing for the 2 cores.
    fileParallelism: false,
  },
});
