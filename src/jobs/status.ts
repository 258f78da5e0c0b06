import type pg from "pg";

export const JOB_STATUSES = ["queued", "done", "failed", "lost"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export type Job = {
  job_id: number;
  status: JobStatus;
  accepted: number;
  stored: number;
  superseded: number;
  failed: number;
  error: string | null;
  received_at: string;
  finished_at: string | null;
};

// A done job's accepted rides were either stored or superseded before they were: by a later
// copy of the same id in the same request, or in a later job the same move took.
const JOB_COLUMNS = `id AS job_id, status, accepted, stored,
  CASE WHEN status = 'done' THEN accepted - stored ELSE 0 END AS superseded, failed, error, received_at, finished_at`;
type JobRow = Omit<Job, "received_at" | "finished_at"> & { received_at: Date; finished_at: Date | null };

const toJob = (row: JobRow): Job => ({
  ...row,
  received_at: row.received_at.toISOString(),
  finished_at: row.finished_at?.toISOString() ?? null,
});

// A queued job whose staging row is gone was emptied by crash recovery (UNLOGGED
// staging). Intake and mover change a job and its staging row in one transaction, so
// this cannot catch a job in flight. $1 narrows it to one job, NULL sweeps them all.
const MARK_LOST = `
UPDATE jobs SET status = 'lost', finished_at = now(),
  error = 'the staged rides were lost before they were stored (the database crashed); send them again'
WHERE status = 'queued' AND ($1::bigint IS NULL OR id = $1)
  AND NOT EXISTS (SELECT 1 FROM staging s WHERE s.job_id = jobs.id)
RETURNING id`;

const GET_JOB = `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`;

const LIST_JOBS = `
SELECT ${JOB_COLUMNS} FROM jobs
WHERE ($1::text IS NULL OR status = $1) AND ($2::timestamptz IS NULL OR received_at >= $2)
ORDER BY id DESC LIMIT $3`;

/** Jobs that reached an outcome are announced on this channel (as "first-last" ids), for the streams waiting on them. */
export const JOBS_FINISHED_CHANNEL = "rides_jobs_finished";

/** Announces finished jobs; in a transaction, the notice goes out only if it commits. */
export async function notifyFinished(db: pg.Pool | pg.PoolClient, jobIds: number[]): Promise<void> {
  if (jobIds.length === 0) return;
  // A range, not a list: NOTIFY payloads are capped at 8,000 bytes and a chunk can hold 20,000 jobs.
  let first = jobIds[0];
  let last = jobIds[0];
  for (const id of jobIds) {
    if (id < first) first = id;
    if (id > last) last = id;
  }
  const range = `${first}-${last}`;
  await db.query("SELECT pg_notify($1, $2)", [JOBS_FINISHED_CHANNEL, range]);
}

export async function markLost(pool: pg.Pool, jobId: number | null = null): Promise<number[]> {
  const { rows } = await pool.query<{ id: number }>(MARK_LOST, [jobId]);
  const ids = rows.map((row) => row.id);
  await notifyFinished(pool, ids);
  return ids;
}

/** Those of jobIds that have left queued. */
export async function finishedJobs(pool: pg.Pool, jobIds: number[]): Promise<Job[]> {
  const { rows } = await pool.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ANY($1::bigint[]) AND status <> 'queued'`, [jobIds]);
  return rows.map(toJob);
}

/** A job as its sender sees it; a queued job whose payload vanished is reported lost right away. */
export async function getJob(pool: pg.Pool, jobId: number): Promise<Job | undefined> {
  await markLost(pool, jobId);
  const { rows } = await pool.query<JobRow>(GET_JOB, [jobId]);
  return rows.map(toJob)[0];
}

export type JobFilter = { status?: JobStatus; since?: string; limit: number };

/** The jobs a sender reconciles, newest first. */
export async function listJobs(pool: pg.Pool, filter: JobFilter): Promise<Job[]> {
  if (filter.status === "queued" || filter.status === "lost") await markLost(pool);
  const { rows } = await pool.query<JobRow>(LIST_JOBS, [filter.status ?? null, filter.since ?? null, filter.limit]);
  return rows.map(toJob);
}
