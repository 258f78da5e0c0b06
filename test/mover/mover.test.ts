import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { holdMover } from "../support/locks.ts";
import { getJson, post, ride, startTestService, waitForJob } from "../support/service.ts";

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

/** Stages a job behind the service's back, as a producer on an older version might have left it. */
async function stageDirectly(rides: unknown[]): Promise<number> {
  const { rows } = await db.pool.query(
    `WITH j AS (INSERT INTO jobs (accepted) VALUES ($1) RETURNING id)
     INSERT INTO staging (job_id, ride_count, months, rides) SELECT id, $1, '{2013-01}', ARRAY(SELECT r FROM json_populate_recordset(null::staged_ride, $2::json) r) FROM j RETURNING job_id`,
    [rides.length, JSON.stringify(rides)],
  );
  return rows[0].job_id;
}

const utcRide = (id: number, overrides: Record<string, unknown> = {}) =>
  ride({ id, from_date: "2013-01-02T10:00:00.000Z", booking_created: "2013-01-02T09:00:00.000Z", ...overrides });

describe("a payload the database refuses", () => {
  it("fails that job with the reason and still moves the jobs around it", async () => {
    const before = await stageDirectly([utcRide(730001)]);
    const poison = await stageDirectly([utcRide(730002), utcRide(730003, { from_lat: 95 })]);
    const after = await stageDirectly([utcRide(730004)]);
    const woken = await post(service.url, JSON.stringify(ride({ id: 730005 })), "application/json");

    const failed = await waitForJob(service.url, poison);
    expect(failed).toMatchObject({ status: "failed", accepted: 2, stored: 0, failed: 2 });
    expect(failed.error).toMatch(/the database refused the rides: new row for relation "rides_2013_01" violates check constraint "rides_from_lat_check"/);
    expect(failed.finished_at).toBeTruthy();
    for (const jobId of [before, after, woken.body.job_id]) {
      expect((await waitForJob(service.url, jobId)).status).toBe("done");
    }
    const stored = await db.pool.query("SELECT id FROM rides WHERE id BETWEEN 730001 AND 730005 ORDER BY id");
    expect(stored.rows.map((r) => r.id)).toEqual([730001, 730004, 730005]);
    expect((await db.pool.query("SELECT count(*)::int AS n FROM staging")).rows[0].n).toBe(0);
  });
});

describe("a staged payload that vanished", () => {
  it("is reported lost by the sweep a process runs for each PostgreSQL start it sees, not queued forever; a GET only reads", async () => {
    // Hold the mover's lock so the job stays staged, then empty staging as crash recovery would.
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    let second: Awaited<ReturnType<typeof startTestService>> | undefined;
    try {
      await blocker.query("SELECT pg_advisory_lock(hashtext('rides-mover'))");
      const one = await post(service.url, JSON.stringify(ride({ id: 740001 })), "application/json");
      const two = await post(service.url, JSON.stringify(ride({ id: 740002 })), "application/json");
      expect((await getJson(service.url, `/v1/jobs/${one.body.job_id}`)).body.status).toBe("queued");
      await db.pool.query("TRUNCATE staging");
      await blocker.query("SELECT pg_advisory_unlock(hashtext('rides-mover'))");
      expect((await getJson(service.url, `/v1/jobs/${one.body.job_id}`)).body.status).toBe("queued");

      // A process that has not swept for this PostgreSQL start yet (as after a restart).
      second = await startTestService(db.url);
      await vi.waitFor(async () => expect((await getJson(service.url, `/v1/jobs/${one.body.job_id}`)).body.status).toBe("lost"), {
        timeout: 15_000,
        interval: 50,
      });
      const lost = (await getJson(service.url, `/v1/jobs/${one.body.job_id}`)).body;
      expect(lost).toMatchObject({ status: "lost", stored: 0, error: expect.stringMatching(/send them again/) });
      const listed = (await getJson(service.url, "/v1/jobs?status=lost")).body.jobs.map((j: { job_id: number }) => j.job_id);
      expect(listed).toEqual([two.body.job_id, one.body.job_id]);
    } finally {
      await blocker.end();
      await second?.stop();
    }
    const next = await post(service.url, JSON.stringify(ride({ id: 740003 })), "application/json");
    expect((await waitForJob(service.url, next.body.job_id)).status).toBe("done");
    expect((await db.pool.query("SELECT count(*)::int AS n FROM rides WHERE id IN (740001, 740002)")).rows[0].n).toBe(0);
  });
});

/** Waits until a mover of this database has begun its transaction and queues for the mover's lock. */
const moverQueuedForLock = () =>
  vi.waitFor(
    async () => {
      const { rows } = await db.pool.query(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      );
      expect(rows[0].n).toBeGreaterThan(0);
    },
    { timeout: 10_000, interval: 20 },
  );

const ackToStoredSum = async () => {
  const metrics = await (await fetch(`${service.url}/metrics`)).text();
  return Number(metrics.split("\n").find((line) => line.startsWith("rides_ack_to_stored_seconds_sum "))?.split(" ")[1]);
};

describe("a job's finished_at", () => {
  it("is when its rides became readable, not when the mover's transaction began waiting for its lock", async () => {
    const before = await ackToStoredSum();
    const release = await holdMover(db.url);
    let releasedAt: number;
    let posted;
    try {
      posted = await post(service.url, JSON.stringify(ride({ id: 760001 })), "application/json");
      await moverQueuedForLock();
      releasedAt = (await db.pool.query("SELECT clock_timestamp() AS at")).rows[0].at.getTime();
    } finally {
      await release();
    }
    const job = await waitForJob(service.url, posted.body.job_id);
    expect(job.status).toBe("done");
    expect(Date.parse(job.finished_at)).toBeGreaterThanOrEqual(releasedAt);
    // The mover-lag histogram reads the same finished_at.
    const waited = (releasedAt - Date.parse(job.received_at)) / 1000;
    expect((await ackToStoredSum()) - before).toBeGreaterThanOrEqual(waited);
  });
});

describe("a job's counts", () => {
  it("count a ride sent twice in one request once, and its replaced copy as superseded", async () => {
    const { body } = await post(
      service.url,
      JSON.stringify([ride({ id: 770001, user_id: 1 }), ride({ id: 770002 }), ride({ id: 770001, user_id: 2 })]),
      "application/json",
    );
    const job = await waitForJob(service.url, body.job_id);
    expect(job).toMatchObject({ status: "done", accepted: 3, stored: 2, superseded: 1, failed: 0 });
    const rows = await db.pool.query("SELECT id, user_id, job_id FROM rides WHERE id IN (770001, 770002) ORDER BY id");
    expect(rows.rows).toEqual([
      { id: 770001, user_id: 2, job_id: body.job_id },
      { id: 770002, user_id: 22177, job_id: body.job_id },
    ]);
  });

  it("count a ride a later job of the same move replaced as superseded, not stored", async () => {
    const release = await holdMover(db.url);
    let first;
    let second;
    try {
      // Staged without waking the mover, so the POST that wakes it finds both jobs and moves them together.
      first = await stageDirectly([utcRide(770003), utcRide(770004)]);
      second = await stageDirectly([utcRide(770004, { user_id: 3 })]);
      await post(service.url, JSON.stringify(ride({ id: 770005 })), "application/json");
      await moverQueuedForLock();
    } finally {
      await release();
    }
    expect(await waitForJob(service.url, first)).toMatchObject({ status: "done", accepted: 2, stored: 1, superseded: 1 });
    expect(await waitForJob(service.url, second)).toMatchObject({ status: "done", accepted: 1, stored: 1, superseded: 0 });
    const { rows } = await db.pool.query("SELECT count(*)::int AS n, sum(stored)::int AS stored FROM jobs WHERE id = ANY($1)", [[first, second]]);
    const storedRows = await db.pool.query("SELECT count(*)::int AS n FROM rides WHERE id IN (770003, 770004)");
    expect(rows[0].stored).toBe(storedRows.rows[0].n);
  });
});

describe("job listing", () => {
  it("filters by status, since and limit, newest first", async () => {
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { body } = await post(service.url, JSON.stringify(ride({ id: 750001 + i })), "application/json");
      ids.push(body.job_id);
      await waitForJob(service.url, body.job_id);
    }
    const since = (await getJson(service.url, `/v1/jobs/${ids[1]}`)).body.received_at;
    const listed = (await getJson(service.url, `/v1/jobs?status=done&since=${since}&limit=5`)).body.jobs;
    expect(listed.map((j: { job_id: number }) => j.job_id)).toEqual([ids[2], ids[1]]);
    expect((await getJson(service.url, "/v1/jobs?limit=1")).body.jobs).toHaveLength(1);
  });

  it("answers 400 naming a bad parameter", async () => {
    for (const [query, name] of [["status=gone", "status"], ["limit=0", "limit"], ["since=yesterday", "since"], ["colour=red", "colour"]]) {
      const { status, body } = await getJson(service.url, `/v1/jobs?${query}`);
      expect(status).toBe(400);
      expect(body.detail).toContain(`query parameter ${name}`);
    }
  });
});
