import type pg from "pg";
import { createLogger } from "../../src/observability/logger.ts";
import { createPruner } from "../../src/retention/pruner.ts";

/** A pruner that runs only when a test calls prune(), keeping jobs `jobsRetentionDays` days. */
export const createTestPruner = (pool: pg.Pool, jobsRetentionDays: number) =>
  createPruner({
    pool,
    jobsRetentionDays,
    idempotencyKeyTtlHours: 24,
    zone: "Asia/Kolkata",
    intervalMs: 3_600_000,
    log: createLogger("silent"),
    onPruned: () => {},
    onScheduled: () => {},
  });
