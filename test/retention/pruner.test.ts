import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createJobPartitions } from "../../src/jobs/partitions.ts";
import { jobCounts } from "../../src/jobs/store.ts";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { holdMover } from "../support/locks.ts";
import { getJson, post, ride, startTestService, waitForJob } from "../support/service.ts";

/** Job ids start after the migration's first partition, so the test's small partitions hold them. */
const FIRST_ID = 1_000_001;
const PARTITION_SIZE = 10;

async function serviceWithSmallPartitions(db: TestDatabase, env: Record<string, string> = {}): Promise<Service> {
  // Partitions ready for every id the test uses: with ten ids each, a burst of POSTs can
  // outrun the ones the service keeps ahead, and the retry after adding one skips an id.
  await db.pool.query("SELECT setval('jobs_id_seq', $1)", [FIRST_ID + 60]);
  await createJobPartitions(db.pool, PARTITION_SIZE)();
  await db.pool.query("SELECT setval('jobs_id_seq', $1)", [FIRST_ID - 1]);
  return startTestService(db.url, { JOBS_PARTITION_SIZE: String(PARTITION_SIZE), JOBS_RETENTION_DAYS: "30", ...env });
}

const sendOne = async (url: string, id: number, headers: Record<string, string> = {}) =>
  (await post(url, JSON.stringify(ride({ id })), "application/json", "/v1/rides", headers)).body.job_id as number;

async function countsMatchJobs(db: TestDatabase) {
  const { rows } = await db.pool.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM jobs GROUP BY status");
  const actual = { queued: 0, done: 0, failed: 0, lost: 0, ...Object.fromEntries(rows.map((row) => [row.status, row.n])) };
  expect(await jobCounts(db.pool)).toEqual(actual);
}

const jobIds = async (db: TestDatabase) => (await db.pool.query<{ id: number }>("SELECT id FROM jobs ORDER BY id")).rows.map((row) => row.id);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("jobs retention", () => {
  let db: TestDatabase;
  let service: Service;
  beforeAll(async () => {
    db = await createTestDatabase();
    service = await serviceWithSmallPartitions(db);
  });
  afterAll(async () => {
    await service?.stop();
    await db?.drop();
  });

  it("drops the finished jobs past JOBS_RETENTION_DAYS with their keys, keeps every queued one, and says a pruned job was pruned", async () => {
    const finished: number[] = [];
    for (let i = 0; i < 25; i++) finished.push(await sendOne(service.url, 860_000 + i, i === 2 ? { "idempotency-key": "pruned-with-its-job" } : {}));
    expect(finished).toEqual(range(FIRST_ID, FIRST_ID + 25));
    for (const id of finished) expect((await waitForJob(service.url, id)).status).toBe("done");

    const releaseMover = await holdMover(db.url);
    const queued: number[] = [];
    try {
      for (let i = 0; i < 5; i++) queued.push(await sendOne(service.url, 860_100 + i));
      // Everything so far was received 40 days ago; partitions 1 and 2 hold only finished
      // jobs, partition 3 finished ones and the 5 queued ones. The migration's first
      // partition (ids below FIRST_ID) is empty and goes too.
      await db.pool.query("UPDATE jobs SET received_at = received_at - interval '40 days'");

      const report = await service.pruner.prune();
      expect(report).toMatchObject({ jobs: 25, jobPartitions: 3, idempotencyKeys: 0, oldestKeptJobId: queued[0] });
      expect(await jobIds(db)).toEqual(queued);
      for (const id of queued) expect((await getJson(service.url, `/v1/jobs/${id}`)).body.status).toBe("queued");
      expect((await db.pool.query("SELECT count(*)::int AS n FROM idempotency_keys")).rows[0].n).toBe(0);
      await countsMatchJobs(db);

      for (const id of [finished[4], finished[22]]) {
        const gone = await getJson(service.url, `/v1/jobs/${id}`);
        expect([gone.status, gone.body.detail]).toEqual([
          404,
          `job ${id} was pruned: finished jobs are kept for 30 days (JOBS_RETENTION_DAYS)`,
        ]);
      }
      expect((await getJson(service.url, "/v1/jobs/99999999")).body.detail).toBe("no job 99999999");
    } finally {
      await releaseMover();
    }

    // Moved now, and past retention: their partition goes too; the one new jobs go to stays.
    for (const id of queued) expect((await waitForJob(service.url, id)).status).toBe("done");
    const recent = await sendOne(service.url, 860_200);
    await waitForJob(service.url, recent);
    expect(await service.pruner.prune()).toMatchObject({ jobs: 5, jobPartitions: 1 });
    expect(await jobIds(db)).toEqual([recent]);
    await countsMatchJobs(db);

    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/^rides_retention_pruned_rows_total\{table="jobs"\} 30$/m);
    expect(metrics).toMatch(/^rides_retention_partitions_dropped_total\{table="jobs"\} 4$/m);
    expect(metrics).toMatch(new RegExp(`^rides_jobs_oldest_kept_id ${recent}$`, "m"));
    expect(metrics).toMatch(/^rides_retention_next_prune_timestamp_seconds \d+/m);
  });
});

describe("Idempotency-Key expiry", () => {
  let db: TestDatabase;
  let service: Service;
  beforeAll(async () => {
    db = await createTestDatabase();
    service = await startTestService(db.url, { IDEMPOTENCY_KEY_TTL_HOURS: "24" });
  });
  afterAll(async () => {
    await service?.stop();
    await db?.drop();
  });

  const send = (key: string) => post(service.url, JSON.stringify(ride({ id: 870_001 })), "application/json", "/v1/rides", { "idempotency-key": key });
  const age = (key: string, hours: number) =>
    db.pool.query("UPDATE idempotency_keys SET created_at = now() - make_interval(hours => $2) WHERE key = $1", [key, hours]);

  it("replays within IDEMPOTENCY_KEY_TTL_HOURS and starts a new job after it", async () => {
    const first = await send("ttl-key");
    await age("ttl-key", 23);
    const within = await send("ttl-key");
    expect([within.body.job_id, within.headers.get("idempotent-replayed")]).toEqual([first.body.job_id, "true"]);

    await age("ttl-key", 25);
    const after = await send("ttl-key");
    expect(after.status).toBe(202);
    expect(after.headers.get("idempotent-replayed")).toBeNull();
    expect(after.body.job_id).toBeGreaterThan(first.body.job_id);
    const again = await send("ttl-key");
    expect([again.body.job_id, again.headers.get("idempotent-replayed")]).toEqual([after.body.job_id, "true"]);
    for (const id of [first.body.job_id, after.body.job_id]) expect((await waitForJob(service.url, id)).status).toBe("done");
  });

  it("prunes keys past their TTL and keeps the others", async () => {
    await send("expires");
    await send("stays");
    await age("expires", 25);
    expect((await service.pruner.prune()).idempotencyKeys).toBe(1);
    const { rows } = await db.pool.query<{ key: string }>("SELECT key FROM idempotency_keys WHERE key IN ('expires', 'stays')");
    expect(rows.map((row) => row.key)).toEqual(["stays"]);
  });
});

describe("the quarantine and the failed jobs' rides", () => {
  let db: TestDatabase;
  let service: Service;
  beforeAll(async () => {
    db = await createTestDatabase();
    service = await serviceWithSmallPartitions(db);
  });
  afterAll(async () => {
    await service?.stop();
    await db?.drop();
  });

  const sendWithRejection = async (id: number, userId = 17) =>
    (await post(service.url, JSON.stringify([ride({ id, user_id: userId }), ride({ id: id + 1, from_lat: 100 })]), "application/json")).body
      .job_id as number;
  const keptFor = async (table: string) =>
    (await db.pool.query<{ job_id: number }>(`SELECT DISTINCT job_id FROM ${table} ORDER BY job_id`)).rows.map((row) => row.job_id);

  it("go with their jobs, never before: a queued job in an expired partition keeps its rejections", async () => {
    await db.pool.query("ALTER TABLE rides ADD CONSTRAINT refuse_user_5151 CHECK (user_id <> 5151)");
    const finished: number[] = [];
    // Partition 1 (10 jobs, one of them failed) and two jobs of partition 2.
    for (let i = 0; i < 12; i++) finished.push(await sendWithRejection(870_000 + 2 * i, i === 3 ? 5151 : 17));
    expect(finished).toEqual(range(FIRST_ID, FIRST_ID + 12));
    for (const id of finished) await waitForJob(service.url, id);
    expect((await getJson(service.url, `/v1/jobs/${finished[3]}`)).body.status).toBe("failed");

    const releaseMover = await holdMover(db.url);
    try {
      // Queued: the rest of partition 2, and the first job of partition 3, so partition 2 is not the one new jobs go to.
      const queued: number[] = [];
      for (let i = 0; i < 9; i++) queued.push(await sendWithRejection(870_100 + 2 * i));
      expect(queued).toEqual(range(FIRST_ID + 12, FIRST_ID + 21));
      await db.pool.query("UPDATE jobs SET received_at = received_at - interval '40 days'");
      expect(await keptFor("rejections")).toEqual([...finished, ...queued]);
      expect(await keptFor("failed_payloads")).toEqual([finished[3]]);

      const report = await service.pruner.prune();
      expect(report).toMatchObject({ jobs: 12, rejections: 12, failedPayloads: 1 });
      expect(await jobIds(db)).toEqual(queued);
      expect(await keptFor("rejections")).toEqual(queued);
      expect(await keptFor("failed_payloads")).toEqual([]);

      const gone = await getJson(service.url, `/v1/jobs/${finished[0]}/rejections`);
      expect([gone.status, gone.body.detail]).toEqual([404, `job ${finished[0]} was pruned with its rejections: finished jobs are kept for 30 days (JOBS_RETENTION_DAYS)`]);
      expect((await getJson(service.url, "/v1/rejections")).body.rejections.map((r: { job_id: number }) => r.job_id)).toEqual([...queued].reverse());
      expect((await getJson(service.url, `/v1/jobs/${queued[0]}/rejections`)).body.rejections).toHaveLength(1);
    } finally {
      await releaseMover();
    }
  });

  it("a rejection whose job was dropped but not yet swept is not listed", async () => {
    const jobId = await sendWithRejection(871_000);
    await waitForJob(service.url, jobId);
    // As a prune killed between dropping the job and sweeping its rejections leaves them.
    await db.pool.query("DELETE FROM jobs WHERE id = $1", [jobId]);
    await db.pool.query("UPDATE job_retention SET pruned_below = $1", [jobId + 1]);
    expect((await getJson(service.url, "/v1/rejections")).body.rejections.map((r: { job_id: number }) => r.job_id)).not.toContain(jobId);
    expect((await service.pruner.prune()).rejections).toBeGreaterThanOrEqual(1);
    expect(await keptFor("rejections")).not.toContain(jobId);
  });
});
