import type pg from "pg";
import { createJobPartitions } from "../../src/jobs/partitions.ts";

/**
 * Time passing, in bulk SQL: `count` finished jobs with ids from `firstId`, received
 * evenly from `from` to `to` (one ride each, done a second later), with their counts
 * and, for every `keyEvery`th job, an Idempotency-Key created with it. The partitions
 * of `partitionSize` ids they need are made the service's way.
 */
export type GrowJobs = { firstId: number; count: number; from: Date; to: Date; partitionSize: number; keyEvery?: number };

/** Rows per INSERT: big enough to be cheap, small enough to stay out of the way of whatever else runs. */
const ROWS_PER_STATEMENT = 500_000;

export async function growJobs(pool: pg.Pool, { firstId, count, from, to, partitionSize, keyEvery = 0 }: GrowJobs): Promise<void> {
  const lastId = firstId + count - 1;
  await pool.query("SELECT setval('jobs_id_seq', greatest($1, (SELECT last_value FROM jobs_id_seq)))", [lastId]);
  await createJobPartitions(pool, partitionSize)();
  const spanMs = to.getTime() - from.getTime();
  for (let start = firstId; start <= lastId; start += ROWS_PER_STATEMENT) {
    const end = Math.min(lastId, start + ROWS_PER_STATEMENT - 1);
    const received = `$3::timestamptz + make_interval(secs => (g - $4)::float8 / greatest($5::bigint, 1) * $6::float8 / 1000)`;
    await pool.query(
      `WITH jobs AS (
         INSERT INTO jobs (id, status, accepted, stored, received_at, finished_at)
         SELECT g, 'done', 1, 1, ${received}, ${received} + interval '1 second' FROM generate_series($1::bigint, $2::bigint) g
         RETURNING id, received_at
       ), keys AS (
         INSERT INTO idempotency_keys (key, job_id, request_hash, created_at)
         SELECT 'grown-' || id, id, 'grown', received_at FROM jobs WHERE $7::int > 0 AND id % greatest($7::int, 1) = 0
       )
       INSERT INTO job_counts (status, jobs) SELECT 'done', count(*) FROM jobs`,
      [start, end, from.toISOString(), firstId, count - 1, spanMs, keyEvery],
    );
  }
}
