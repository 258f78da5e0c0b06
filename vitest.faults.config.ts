import { defineConfig } from "vitest/config";

// npm run test:faults: each file starts throwaway PostgreSQL clusters and service
// processes of its own and puts them under load, so files run one at a time.
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
