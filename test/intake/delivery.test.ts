import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { holdMover } from "../support/locks.ts";
import { post, ride, startTestService, waitForJob } from "../support/service.ts";

let db: TestDatabase;
let service: Service;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url, { STAGING_MAX_RIDES: "200", WAIT_STORED_TIMEOUT_MS: "1000" });
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

const json = "application/json";
const rides = (from: number, count: number) => JSON.stringify(Array.from({ length: count }, (_, i) => ride({ id: from + i })));
const count = async (sql: string, params: unknown[] = []) => (await db.pool.query(sql, params)).rows[0].n as number;

describe("the staging backlog cap", () => {
  it("answers 503 + Retry-After once staging holds STAGING_MAX_RIDES, and takes rides again once they moved", async () => {
    const jobs: number[] = [];
    let refused: Awaited<ReturnType<typeof post>> | undefined;
    const release = await holdMover(db.url);
    try {
      for (let i = 0; i < 20 && !refused; i++) {
        const answer = await post(service.url, rides(620000 + i * 50, 50), json);
        if (answer.status === 202) jobs.push(answer.body.job_id);
        else refused = answer;
        // The backlog figure is refreshed at most every 200 ms.
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      await release();
    }
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get("retry-after")).toBe("2");
    expect(refused?.headers.get("content-type")).toBe("application/problem+json");
    expect(refused?.body.detail).toMatch(/^\d+ rides are waiting to be stored \(limit 200\); nothing from this request was accepted, retry later$/);
    expect(jobs.length).toBeGreaterThanOrEqual(4);
    expect(jobs.length * 50).toBe(200);
    for (const jobId of jobs) expect((await waitForJob(service.url, jobId)).status).toBe("done");
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await post(service.url, rides(620500, 10), json)).status).toBe(202);
  });
});

describe("Idempotency-Key", () => {
  it("answers a resend with the same key and body with the first job, staging nothing twice", async () => {
    const body = rides(630000, 3);
    const headers = { "idempotency-key": "batch-630000" };
    const jobsBefore = await count("SELECT count(*)::int AS n FROM jobs");
    const first = await post(service.url, body, json, "/v1/rides", headers);
    expect(first.status).toBe(202);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    await waitForJob(service.url, first.body.job_id);
    const again = await post(service.url, body, json, "/v1/rides", headers);
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual({ job_id: first.body.job_id, status: "done", accepted: 3, rejected: [], rejected_count: 0, warnings: [], warnings_count: 0 });
    expect(await count("SELECT count(*)::int AS n FROM jobs")).toBe(jobsBefore + 1);
  });

  it("refuses the same key with a different body (422, naming the first job)", async () => {
    const headers = { "idempotency-key": "batch-631000" };
    const first = await post(service.url, rides(631000, 2), json, "/v1/rides", headers);
    const other = await post(service.url, rides(631100, 2), json, "/v1/rides", headers);
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({
      job_id: first.body.job_id,
      detail: `Idempotency-Key was first used for job ${first.body.job_id} with a different request; use a new key for new rides`,
    });
    // The same bytes as another media type are other rides.
    const csv = await post(service.url, rides(631000, 2), "application/x-ndjson", "/v1/rides", headers);
    expect(csv.status).toBe(422);
  });

  it("creates one job when many requests race with the same key", async () => {
    const body = rides(632000, 5);
    const jobsBefore = await count("SELECT count(*)::int AS n FROM jobs");
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => post(service.url, body, json, "/v1/rides", { "idempotency-key": "race-632000" })),
    );
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([202]));
    expect(new Set(answers.map((a) => a.body.job_id)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get("idempotent-replayed") === null)).toHaveLength(1);
    expect(await count("SELECT count(*)::int AS n FROM jobs")).toBe(jobsBefore + 1);
    await waitForJob(service.url, answers[0].body.job_id);
    expect(await count("SELECT count(*)::int AS n FROM rides WHERE id BETWEEN 632000 AND 632004")).toBe(5);
  });

  it("answers 400 to a key that is not 1 to 255 printable characters", async () => {
    const answer = await post(service.url, rides(633000, 1), json, "/v1/rides", { "idempotency-key": "x".repeat(256) });
    expect([answer.status, answer.body.detail]).toEqual([
      400,
      "header Idempotency-Key: must be 1 to 255 printable ASCII characters without spaces",
    ]);
  });
});

describe("?wait=stored", () => {
  it("answers 200 with the final job once the rides are in the rides table", async () => {
    const answer = await post(`${service.url}/v1/rides?wait=stored`, rides(640000, 4), json, "");
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: "done", accepted: 4, stored: 4, failed: 0, error: null, rejected: [] });
    expect(await count("SELECT count(*)::int AS n FROM rides WHERE id BETWEEN 640000 AND 640003")).toBe(4);
  });

  it("falls back to 202 queued when the move takes longer than WAIT_STORED_TIMEOUT_MS", async () => {
    const release = await holdMover(db.url);
    let answer: Awaited<ReturnType<typeof post>>;
    const started = Date.now();
    try {
      answer = await post(`${service.url}/v1/rides?wait=stored`, rides(641000, 1), json, "");
    } finally {
      await release();
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ status: "queued", accepted: 1 });
    expect((await waitForJob(service.url, answer.body.job_id)).status).toBe("done");
  });

  it("answers 400 naming a bad wait value", async () => {
    const answer = await post(`${service.url}/v1/rides?wait=forever`, rides(642000, 1), json, "");
    expect([answer.status, answer.body.detail]).toEqual([400, 'query parameter wait: must be "stored"']);
  });
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
      const jobs = await db.pool.query("SELECT job_id AS id FROM idempotency_keys WHERE key = 'slow-commit-1'");
      expect({ status: answer.status, jobs: jobs.rows.length }).toEqual({ status: 202, jobs: 1 });
      expect(answer.body.job_id).toBe(jobs.rows[0].id);
      expect((await waitForJob(service.url, answer.body.job_id)).status).toBe("done");
    },
    SLOW_COMMIT_MS + 30_000,
  );
});
