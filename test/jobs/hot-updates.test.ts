import { expect, it, vi } from "vitest";
import { post, ride, waitForJob, withTestService } from "../support/service.ts";

const running = withTestService();

const JOBS = 60;

it("a job's one update (queued to done) is HOT: no index covers what changes, and its page has room", async () => {
  for (let i = 0; i < JOBS; i++) {
    const { body } = await post(running.service.url, JSON.stringify(ride({ id: 895_000 + i })), "application/json");
    await waitForJob(running.service.url, body.job_id);
  }
  // Statistics reach pg_stat_user_tables a moment after the updates commit.
  const updates = await vi.waitFor(
    async () => {
      const { rows } = await running.db.pool.query<{ updates: number; hot: number }>(
        `SELECT coalesce(sum(n_tup_upd), 0)::int AS updates, coalesce(sum(n_tup_hot_upd), 0)::int AS hot
         FROM pg_stat_user_tables WHERE relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'jobs'::regclass)`,
      );
      expect(rows[0].updates).toBeGreaterThanOrEqual(JOBS);
      return rows[0];
    },
    { timeout: 15_000, interval: 200 },
  );
  expect(updates.hot).toBe(updates.updates);
});
