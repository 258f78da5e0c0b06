import { defineConfig } from "vitest/config";

// npm run test:browser: the tests that drive a real Chromium (test/support/browser.ts
// says where it looks for one), on the same databases as npm test.
export default defineConfig({
  test: {
    include: ["test/**/*.browser.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
  },
});
