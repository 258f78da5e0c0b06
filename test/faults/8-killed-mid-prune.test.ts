import { afterAll, expect, it } from "vitest";
import { growJobs } from "../../bench/growth/grow.ts";
import { jobCounts } from "../../src/jobs/store.ts";
import { startCluster, until } from "./support/cluster.ts";
import { cleanUp } from "./support/clean-up.ts";
import { allOutput, LEAK, startServiceProcess, stopServiceProcess } from "./support/service-process.ts";

afterAll(cleanUp);

const PARTITION_SIZE = 1_000;
const EXPIRED_PARTITIONS = 300;
const FIRST_ID = 1_000_001;
const KEPT = 2_000;
const DAY_MS = 86_400_000;

it("fault 8: the service SIGKILLed in the middle of a prune loses no job it keeps; the next prune finishes the work", async () => {
  const cluster = await startCluster();
  const now = Date.now();
  // Expired: received 60 to 40 days ago. Kept: the last 12 hours, each with an Idempotency-Key (within its 24 h TTL).
  await growJobs(cluster.pool, {
    firstId: FIRST_ID,
    count: EXPIRED_PARTITIONS * PARTITION_SIZE,
    from: new Date(now - 60 * DAY_MS),
    to: new Date(now - 40 * DAY_MS),
    partitionSize: PARTITION_SIZE,
    keyEvery: 10,
  });
  const firstKept = FIRST_ID + EXPIRED_PARTITIONS * PARTITION_SIZE;
  await growJobs(cluster.pool, { firstId: firstKept, count: KEPT, from: new Date(now - DAY_MS / 2), to: new Date(now), partitionSize: PARTITION_SIZE, keyEvery: 1 });
  const keptBefore = (await cluster.pool.query("SELECT id, status, received_at FROM jobs WHERE id >= $1 ORDER BY id", [firstKept])).rows;
  expect(keptBefore).toHaveLength(KEPT);
  const partitions = async () =>
    (await cluster.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_class WHERE relname ~ '^jobs_[0-9]+_[0-9]+$'")).rows[0].n;
  const before = await partitions();

  const env = { JOBS_PARTITION_SIZE: String(PARTITION_SIZE), JOBS_RETENTION_DAYS: "30", LOG_LEVEL: "info" };
  const first = await startServiceProcess(cluster.url, { env });
  // The first prune starts shortly after start; kill the service once some partitions went, not all.
  await until("the prune to start dropping partitions", async () => (await partitions()) < before, 60_000);
  await stopServiceProcess(first, "SIGKILL");
  const atKill = await partitions();
  console.log(`[fault 8] ${before} jobs partitions before, ${atKill} when the service was killed mid-prune`);
  expect(atKill).toBeGreaterThan(before - EXPIRED_PARTITIONS - 1);

  const second = await startServiceProcess(cluster.url, { env });
  await until("the next prune to drop every expired partition", async () => {
    const { rows } = await cluster.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE id < $1", [firstKept]);
    return rows[0].n === 0 && second.output().includes("pruned jobs and Idempotency-Keys past retention");
  });

  const keptAfter = (await cluster.pool.query("SELECT id, status, received_at FROM jobs ORDER BY id")).rows;
  expect(keptAfter).toEqual(keptBefore);
  const keys = await cluster.pool.query<{ n: number; below: number }>(
    "SELECT count(*) FILTER (WHERE job_id >= $1)::int AS n, count(*) FILTER (WHERE job_id < $1)::int AS below FROM idempotency_keys",
    [firstKept],
  );
  expect(keys.rows[0]).toEqual({ n: KEPT, below: 0 });
  expect(await jobCounts(cluster.pool)).toEqual({ queued: 0, done: KEPT, failed: 0, lost: 0 });
  // Nothing left detached or half detached by the kill.
  const stray = await cluster.pool.query(
    `SELECT c.relname FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
     WHERE c.relname ~ '^jobs_[0-9]+_[0-9]+$' AND (i.inhrelid IS NULL OR i.inhdetachpending)`,
  );
  expect(stray.rows).toEqual([]);
  const gone = await fetch(`${second.url}/v1/jobs/${FIRST_ID}`);
  expect([gone.status, (await gone.json()).detail]).toEqual([404, `job ${FIRST_ID} was pruned: finished jobs are kept for 30 days (JOBS_RETENTION_DAYS)`]);
  expect(allOutput()).not.toMatch(LEAK);
});
