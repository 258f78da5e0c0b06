import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Fault and scale-out tests start their own clusters and processes (npm run
    // test:faults, npm run test:scale-out); browser tests need a Chromium (npm run test:browser).
    exclude: [...configDefaults.exclude, "test/faults/**", "test/scale-out/**", "test/**/*.browser.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: files run two at a time, each in its own database.
    maxWorkers: 2,
  },
});
