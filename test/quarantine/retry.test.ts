import { describe, expect, it } from "vitest";
import { jobCounts, jobEventsAfter } from "../../src/jobs/store.ts";
import { post, ride, waitForJob, withTestService } from "../support/service.ts";

const INGEST = "retry-test-ingest-key";
const READER = "retry-test-reader-key";
const ctx = withTestService({ API_KEYS: `${INGEST}:ingest,${READER}:read` });
const auth = (key = INGEST) => ({ authorization: `Bearer ${key}` });

const retry = async (jobId: number, key = INGEST) => {
  const response = await fetch(`${ctx.service.url}/v1/jobs/${jobId}/retry`, { method: "POST", headers: auth(key) });
  return { status: response.status, type: response.headers.get("content-type"), body: await response.json() };
};
const send = async (rides: unknown[]) => {
  const answer = await post(ctx.service.url, JSON.stringify(rides), "application/json", "/v1/rides", auth());
  expect(answer.status).toBe(202);
  return answer.body.job_id as number;
};
const finished = (jobId: number) => waitForJob(ctx.service.url, jobId, 15_000, auth());
const countsMatch = async () => {
  const { rows } = await ctx.db.pool.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM jobs GROUP BY status");
  expect(await jobCounts(ctx.db.pool)).toEqual({ queued: 0, done: 0, failed: 0, lost: 0, ...Object.fromEntries(rows.map((r) => [r.status, r.n])) });
  const listed = await ctx.db.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM jobs j FULL JOIN job_failures f ON f.job_id = j.id WHERE (j.status IN ('failed', 'lost')) IS DISTINCT FROM (f.job_id IS NOT NULL)",
  );
  expect(listed.rows[0].n).toBe(0);
};

describe("POST /v1/jobs/{id}/retry", () => {
  it("stages a failed job's rides again once the cause is fixed, and the job ends done with every ride", async () => {
    // The database refuses this user's rides until the test removes the cause.
    await ctx.db.pool.query("ALTER TABLE rides ADD CONSTRAINT refuse_user_4242 CHECK (user_id <> 4242)");
    const ids = Array.from({ length: 30 }, (_, i) => 810_000 + i);
    const jobId = await send(ids.map((id) => ride({ id, user_id: 4242 })));
    const failed = await finished(jobId);
    expect(failed).toMatchObject({ status: "failed", failed: 30, stored: 0, attempts: 1 });
    expect(failed.error).toMatch(/refuse_user_4242/);
    await countsMatch();

    // Retried before the cause is gone: it fails again, its rides still kept.
    const early = await retry(jobId);
    expect(early.status).toBe(202);
    expect(early.body).toMatchObject({ job_id: jobId, status: "queued", attempts: 2, error: null });
    expect(await finished(jobId)).toMatchObject({ status: "failed", attempts: 2, failed: 30 });
    await countsMatch();

    await ctx.db.pool.query("ALTER TABLE rides DROP CONSTRAINT refuse_user_4242");
    expect((await retry(jobId)).status).toBe(202);
    const done = await finished(jobId);
    expect(done).toMatchObject({ status: "done", accepted: 30, stored: 30, superseded: 0, failed: 0, error: null, attempts: 3 });
    const stored = await ctx.db.pool.query("SELECT id, job_id FROM rides WHERE id = ANY($1) ORDER BY id", [ids]);
    expect(stored.rows).toEqual(ids.map((id) => ({ id, job_id: jobId })));
    expect((await ctx.db.pool.query("SELECT count(*)::int AS n FROM failed_payloads WHERE job_id = $1", [jobId])).rows[0].n).toBe(0);
    await countsMatch();

    // Each attempt's end is an event of its own (SSE, webhooks), its data the job as it was then.
    const events = (await jobEventsAfter(ctx.db.pool, 0, 1_000)).filter((event) => event.job.job_id === jobId);
    expect(events.map((event) => [event.job.status, event.job.attempts])).toEqual([["failed", 1], ["failed", 2], ["done", 3]]);
    expect(events[2].job).toEqual(done);
  });

  it("leaves a ride a later job stored meanwhile as that job stored it: the retried send is older", async () => {
    await ctx.db.pool.query("ALTER TABLE rides ADD CONSTRAINT refuse_user_4343 CHECK (user_id <> 4343)");
    const old = await send([ride({ id: 820_001, user_id: 4343 }), ride({ id: 820_002, user_id: 4343 })]);
    expect((await finished(old)).status).toBe("failed");
    const later = await send([ride({ id: 820_002, user_id: 17 })]);
    expect((await finished(later)).status).toBe("done");
    await ctx.db.pool.query("ALTER TABLE rides DROP CONSTRAINT refuse_user_4343");

    expect((await retry(old)).status).toBe(202);
    expect(await finished(old)).toMatchObject({ status: "done", accepted: 2, stored: 1, superseded: 1 });
    const { rows } = await ctx.db.pool.query("SELECT id, user_id, job_id FROM rides WHERE id IN (820001, 820002) ORDER BY id");
    expect(rows).toEqual([
      { id: 820_001, user_id: 4343, job_id: old },
      { id: 820_002, user_id: 17, job_id: later },
    ]);
    await countsMatch();
  });

  it("leaves out a ride whose month was dropped since (RIDES_RETENTION_MONTHS): the intake would refuse it now", async () => {
    await ctx.db.pool.query("ALTER TABLE rides ADD CONSTRAINT refuse_user_4545 CHECK (user_id <> 4545)");
    const jobId = await send([
      ride({ id: 825_001, user_id: 4545 }),
      ride({ id: 825_002, user_id: 4545, from_date: "2013-03-01T02:00:00+05:30", booking_created: "2013-03-01T01:00:00+05:30" }),
    ]);
    expect((await finished(jobId)).status).toBe("failed");
    await ctx.db.pool.query("ALTER TABLE rides DROP CONSTRAINT refuse_user_4545");
    await ctx.db.pool.query("UPDATE rides_retention SET kept_from = '2013-02-01T00:00:00+05:30'");
    try {
      expect((await retry(jobId)).status).toBe(202);
      expect(await finished(jobId)).toMatchObject({ status: "done", accepted: 2, stored: 1, superseded: 1 });
      expect((await ctx.db.pool.query("SELECT id FROM rides WHERE id IN (825001, 825002)")).rows).toEqual([{ id: 825_002 }]);
    } finally {
      await ctx.db.pool.query("UPDATE rides_retention SET kept_from = NULL");
    }
    await countsMatch();
  });

  it("is a 409 problem for a job that is not failed, a 404 for none, and needs the ingest scope", async () => {
    const jobId = await send([ride({ id: 830_001 })]);
    expect((await finished(jobId)).status).toBe("done");
    const conflict = await retry(jobId);
    expect(conflict.status).toBe(409);
    expect(conflict.type).toMatch(/application\/problem\+json/);
    expect(conflict.body).toMatchObject({ status: 409, detail: `job ${jobId} is done, not failed: only a failed job is retried` });
    expect((await retry(99_999_999)).status).toBe(404);
    expect((await retry(jobId, READER)).status).toBe(403);
    await countsMatch();
  });

  it("is a 409 for a failed job whose rides were not kept (it failed before they were)", async () => {
    await ctx.db.pool.query("ALTER TABLE rides ADD CONSTRAINT refuse_user_4444 CHECK (user_id <> 4444)");
    const jobId = await send([ride({ id: 840_001, user_id: 4444 })]);
    expect((await finished(jobId)).status).toBe("failed");
    await ctx.db.pool.query("ALTER TABLE rides DROP CONSTRAINT refuse_user_4444");
    await ctx.db.pool.query("DELETE FROM failed_payloads WHERE job_id = $1", [jobId]);
    const refused = await retry(jobId);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/rides were not kept/);
  });
});
