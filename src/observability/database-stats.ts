import type pg from "pg";
import type { JobStatus } from "../jobs/status.ts";

export type Backlog = { jobs: number; rides: number; oldestAgeSeconds: number };

const BACKLOG = `
SELECT count(*)::int AS jobs, coalesce(sum(s.ride_count), 0)::int AS rides,
       coalesce(extract(epoch FROM now() - min(j.received_at)), 0)::float8 AS "oldestAgeSeconds"
FROM staging s JOIN jobs j ON j.id = s.job_id`;

/** What waits in staging for the mover, and since when. */
export async function stagingBacklog(pool: pg.Pool): Promise<Backlog> {
  return (await pool.query<Backlog>(BACKLOG)).rows[0];
}

/** Changes stored in rides that the folder has not added to the rollups yet (few, but for bursts). */
export async function pendingRollupChanges(pool: pg.Pool): Promise<number> {
  return (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM rollup_log")).rows[0].n;
}

const JOB_COUNTS = "SELECT status, count(*)::int AS jobs FROM jobs GROUP BY status";

export async function jobCounts(pool: pg.Pool): Promise<Record<JobStatus, number>> {
  const counts: Record<JobStatus, number> = { queued: 0, done: 0, failed: 0, lost: 0 };
  for (const row of (await pool.query<{ status: JobStatus; jobs: number }>(JOB_COUNTS)).rows) counts[row.status] = row.jobs;
  return counts;
}

export type FinishedJob = { id: number; status: JobStatus; stored: number; failed: number; lagSeconds: number };

// Jobs finish roughly in id order (the mover takes the oldest first), so the watermark is
// an id: everything above it up to the first job still queued is finished and read once.
const FINISHED_AFTER = `
SELECT id, status, stored, failed, extract(epoch FROM finished_at - received_at)::float8 AS "lagSeconds"
FROM jobs
WHERE id > $1 AND id < coalesce((SELECT min(id) FROM jobs WHERE status = 'queued' AND id > $1), 9223372036854775807)
ORDER BY id LIMIT 10000`;

export async function jobsFinishedAfter(pool: pg.Pool, jobId: number): Promise<FinishedJob[]> {
  return (await pool.query<FinishedJob>(FINISHED_AFTER, [jobId])).rows;
}

export async function newestJobId(pool: pg.Pool): Promise<number> {
  return (await pool.query<{ id: number }>("SELECT coalesce(max(id), 0)::bigint AS id FROM jobs")).rows[0].id;
}
