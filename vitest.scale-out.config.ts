import { defineConfig } from "vitest/config";

// npm run test:scale-out: the path past one machine, with the real components (Debian's
// pgbouncer, haproxy and PostgreSQL 15 for pg_basebackup). Each group runs after the
// previous one: two cores cannot hold the fault clusters beside the other tests.
export default defineConfig({
  test: {
    testTimeout: 300_000,
    hookTimeout: 120_000,
    projects: [
      {
        // The intake, mover, jobs and query tests with PgBouncer between the service and PostgreSQL.
        test: {
          name: "through-pgbouncer",
          include: ["test/intake/**/*.test.ts", "test/mover/**/*.test.ts", "test/query/**/*.test.ts", "test/notifications/**/*.test.ts", "test/webhooks/**/*.test.ts"],
          // It breaks the service's database connections with a TCP relay of its own in place of
          // DATABASE_URL, which this project points at PgBouncer instead.
          exclude: ["test/intake/commit-outcome.test.ts"],
          globalSetup: ["test/scale-out/support/global-setup-pgbouncer.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: "faults-through-pgbouncer",
          include: ["test/faults/1-service-killed.test.ts", "test/faults/7-two-processes.test.ts", "test/faults/9-webhook-restart.test.ts"],
          provide: { faultsThroughPgBouncer: true },
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 2 },
        },
      },
      {
        test: {
          name: "scale-out",
          include: ["test/scale-out/**/*.test.ts"],
          globalSetup: ["test/scale-out/support/check-installed.ts"],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
