import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { post, ride, startTestService, waitForJob } from "../support/service.ts";

let db: TestDatabase;
let service: Service;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url);
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

/** Past the pool's 30 s query_timeout, after which pg answers the caller while the statement still runs. */
const SLOW_COMMIT_MS = 32_000;

describe("a commit that takes long", () => {
  it(
    "is waited for: the answer is the 202 of rides that were taken, never a 503 saying they were not",
    async () => {
      // Another transaction holds jobs in SHARE mode: the staging statement waits for it, as it
      // would behind a busy database, and commits the moment it is let go.
      const blocker = await db.pool.connect();
      await blocker.query("BEGIN");
      await blocker.query("LOCK TABLE jobs IN SHARE MODE");
      const sent = post(service.url, JSON.stringify(ride({ id: 740001 })), "application/json", "/v1/rides", { "idempotency-key": "slow-commit-1" });
      await new Promise((resolve) => setTimeout(resolve, SLOW_COMMIT_MS));
      await blocker.query("COMMIT");
      blocker.release();

      const answer = await sent;
      // Whatever the answer said, the rides were taken: the statement was never cancelled.
      await vi.waitFor(async () => expect((await db.pool.query("SELECT 1 FROM rides WHERE id = 740001")).rows).toHaveLength(1), { timeout: 15_000 });
      const jobs = await db.pool.query("SELECT id FROM jobs WHERE idempotency_key = 'slow-commit-1'");
      expect({ status: answer.status, jobs: jobs.rows.length }).toEqual({ status: 202, jobs: 1 });
      expect(answer.body.job_id).toBe(jobs.rows[0].id);
      expect((await waitForJob(service.url, answer.body.job_id)).status).toBe("done");
    },
    SLOW_COMMIT_MS + 30_000,
  );
});
