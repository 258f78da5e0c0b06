import type pg from "pg";
import { detachPartition, inTransaction } from "../db/client.ts";
import { RIDE_FIELDS, type Ride } from "../rides/index.ts";
import { LOG_ROLLUP_CHANGES } from "../rollup/rollups.ts";

// Every statement that writes jobs and staging, and the reads of them: a job is staged
// queued with its rides, and leaves queued as done (moved), failed (refused) or lost
// (its staged rides vanished in a crash).

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
  /** Times its rides were staged: 1, and one more per retry. */
  attempts: number;
};

// A done job's accepted rides were either stored or superseded before they were: by a later
// copy of the same id in the same request, or in a later job the same move took.
const JOB_COLUMNS = `id AS job_id, status, accepted, stored,
  CASE WHEN status = 'done' THEN accepted - stored ELSE 0 END AS superseded, failed, error, received_at, finished_at, attempts`;
type JobRow = Omit<Job, "received_at" | "finished_at"> & { received_at: Date; finished_at: Date | null };

const toJob = (row: JobRow): Job => ({
  ...row,
  received_at: row.received_at.toISOString(),
  finished_at: row.finished_at?.toISOString() ?? null,
});

// Each statement that changes a job's status appends what it changed to job_counts and
// records a failed or lost job in job_failures, in the same statement as the change.
const countFinished = (finished: string, status: string) => `
counted AS (
  INSERT INTO job_counts (status, jobs)
  SELECT v.status, v.jobs FROM (SELECT count(*) AS n FROM ${finished}) f
  CROSS JOIN LATERAL (VALUES ('queued', -f.n), ('${status}', f.n)) AS v(status, jobs) WHERE f.n > 0
)`;
const recordFailures = (finished: string, status: string) => `
recorded AS (INSERT INTO job_failures (job_id, status) SELECT id, '${status}' FROM ${finished})`;
// Notifications: the job's outcome as it is now, appended to job_events (SSE, webhooks) in
// the statement that changes the job, in job order. `finished` returns id, stored, failed, error, finished_at, attempts.
const recordEvents = (finished: string, status: string) => `
evented AS (
  INSERT INTO job_events (job_id, status, stored, failed, error, finished_at, attempts)
  SELECT id, '${status}', stored, failed, error, finished_at, attempts FROM ${finished} ORDER BY id
)`;

/**
 * Taken by every transaction that writes job_events (the mover's, just before FINISH_JOBS
 * or FAIL_JOB, and markLost), and held to its commit: such a transaction draws its seqs
 * after taking the lock, and PostgreSQL releases the lock only once the commit is visible,
 * so seqs commit in the order they are drawn and a reader resuming after the last seq it
 * saw skips none. Not the mover's lock itself: the mover holds that for the whole move, and
 * the lost-job check on a LISTEN reconnect must not wait for a move.
 */
export const JOB_EVENTS_LOCK = "SELECT pg_advisory_xact_lock(hashtext('rides-job-events'))";

// A queued job whose staging row is gone was emptied by crash recovery (UNLOGGED
// staging). Intake and mover change a job and its staging row in one statement, so
// this cannot catch a job in flight. It scans jobs, so it runs once per PostgreSQL
// start the mover sees (src/mover/worker.ts), never on a read.
const MARK_LOST = `
WITH lost AS (
  UPDATE jobs SET status = 'lost', finished_at = now(),
    error = 'the staged rides were lost before they were stored (the database crashed); send them again'
  WHERE status = 'queued' AND NOT EXISTS (SELECT 1 FROM staging s WHERE s.job_id = jobs.id)
  RETURNING id, stored, failed, error, finished_at, attempts
), ${countFinished("lost", "lost")}, ${recordFailures("lost", "lost")}, ${recordEvents("lost", "lost")}
SELECT id FROM lost`;

const GET_JOB = `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`;

// A rare status is read from its own small list (queued jobs from staging, failed and
// lost ones from job_failures), newest first, and then those jobs by their ids, a second
// statement: ids bound as a parameter let the planner keep only their partitions, where
// a join or a subquery planned and opened every partition of jobs on each call.
const LIST_ALL = `
SELECT ${JOB_COLUMNS} FROM jobs
WHERE ($1::text IS NULL OR status = $1) AND ($2::timestamptz IS NULL OR received_at >= $2)
ORDER BY id DESC LIMIT $3`;
const LISTED_IDS = {
  staging: "SELECT job_id FROM staging ORDER BY job_id DESC LIMIT $1",
  job_failures: "SELECT job_id FROM job_failures WHERE status = $2 ORDER BY job_id DESC LIMIT $1",
};
// Ids follow arrival, so the listed jobs received since $3 are the newest of them.
const LISTED_JOBS = `
SELECT ${JOB_COLUMNS} FROM jobs
WHERE id = ANY($1::bigint[]) AND status = $2 AND ($3::timestamptz IS NULL OR received_at >= $3)
ORDER BY id DESC`;
const LIST_SOURCE: Record<JobStatus, "jobs" | keyof typeof LISTED_IDS> = { queued: "staging", done: "jobs", failed: "job_failures", lost: "job_failures" };

const PRUNED_BELOW = "SELECT pruned_below FROM job_retention";

export type JobEvent = { seq: number; job: Job };

// An event's job is the job as GET /v1/jobs/{id} answered right after the event: what
// the transition set, from the event row (a retried job finishes more than once), the
// rest from jobs, read by the events' job ids as a parameter, which the planner keeps to
// their partitions (a join planned and opened every partition of jobs, as LISTED_JOBS says).
const EVENTS_AFTER = `
SELECT seq, job_id, status, stored, failed, error, finished_at, attempts
FROM job_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`;
const JOBS_OF_EVENTS = "SELECT id, accepted, received_at FROM jobs WHERE id = ANY($1::bigint[])";
type EventRow = Pick<JobRow, "job_id" | "stored" | "failed" | "error" | "finished_at" | "attempts"> & { seq: number; status: JobStatus };

/** Up to `limit` events after seq `after` (and at most `through`), oldest first; those of pruned jobs are left out. */
export async function jobEventsAfter(db: pg.Pool | pg.PoolClient, after: number, limit: number, through = Number.MAX_SAFE_INTEGER): Promise<JobEvent[]> {
  const { rows: events } = await db.query<EventRow>(EVENTS_AFTER, [after, through, limit]);
  if (events.length === 0) return [];
  const ids = [...new Set(events.map((event) => event.job_id))];
  const { rows } = await db.query<{ id: number; accepted: number; received_at: Date }>(JOBS_OF_EVENTS, [ids]);
  const jobs = new Map(rows.map((job) => [job.id, job]));
  return events.flatMap(({ seq, ...event }) => {
    const job = jobs.get(event.job_id);
    if (!job) return [];
    const superseded = event.status === "done" ? job.accepted - event.stored : 0;
    return [{ seq, job: toJob({ ...event, accepted: job.accepted, superseded, received_at: job.received_at }) }];
  });
}

/** Up to `limit` events' seq and status after seq `after`, for the webhook dispatcher. */
export async function jobEventStatusesAfter(db: pg.PoolClient, after: number, limit: number): Promise<{ seq: number; status: JobStatus }[]> {
  return (await db.query("SELECT seq, status FROM job_events WHERE seq > $1 ORDER BY seq LIMIT $2", [after, limit])).rows;
}

/** The newest event's seq (0: none yet); every event up to it has committed (see JOB_EVENTS_LOCK). */
export async function newestJobEventSeq(db: pg.Pool | pg.PoolClient): Promise<number> {
  return (await db.query<{ seq: number }>("SELECT coalesce(max(seq), 0)::bigint AS seq FROM job_events")).rows[0].seq;
}

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
  await db.query("SELECT pg_notify($1, $2)", [JOBS_FINISHED_CHANNEL, `${first}-${last}`]);
}

/** Marks every queued job whose staged rides are gone as lost; the ids it marked. */
export async function markLost(pool: pg.Pool): Promise<number[]> {
  return inTransaction(pool, async (client) => {
    await client.query(JOB_EVENTS_LOCK);
    const { rows } = await client.query<{ id: number }>(MARK_LOST);
    const ids = rows.map((row) => row.id);
    await notifyFinished(client, ids);
    return ids;
  });
}

/** Those of jobIds that have left queued. */
export async function finishedJobs(pool: pg.Pool, jobIds: number[]): Promise<Job[]> {
  const { rows } = await pool.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ANY($1::bigint[]) AND status <> 'queued'`, [jobIds]);
  return rows.map(toJob);
}

/** A job as its sender sees it: one read, nothing written. */
export async function getJob(pool: pg.Pool, jobId: number): Promise<Job | undefined> {
  const { rows } = await pool.query<JobRow>(GET_JOB, [jobId]);
  return rows.map(toJob)[0];
}

/** Every job id below this one is gone (pruned). */
export async function prunedBelow(db: pg.Pool | pg.PoolClient): Promise<number> {
  return Number((await db.query<{ pruned_below: string }>(PRUNED_BELOW)).rows[0].pruned_below);
}

/** True when the job's id is below every job kept: it was pruned (not never created). */
export async function wasPruned(pool: pg.Pool, jobId: number): Promise<boolean> {
  return jobId < (await prunedBelow(pool));
}

export type JobFilter = { status?: JobStatus; since?: string; limit: number };

/**
 * The jobs a sender reconciles, newest first. Not a named statement, like none of the
 * service's: PgBouncer in transaction mode (DATABASE_URL may point at one) would run it
 * on a server connection that never prepared it.
 */
export async function listJobs(pool: pg.Pool, filter: JobFilter): Promise<Job[]> {
  const source = filter.status ? LIST_SOURCE[filter.status] : "jobs";
  if (source === "jobs") {
    const { rows } = await pool.query<JobRow>(LIST_ALL, [filter.status ?? null, filter.since ?? null, filter.limit]);
    return rows.map(toJob);
  }
  const listed = await pool.query<{ job_id: number }>(LISTED_IDS[source], source === "staging" ? [filter.limit] : [filter.limit, filter.status]);
  if (listed.rows.length === 0) return [];
  const ids = listed.rows.map((row) => row.job_id);
  const { rows } = await pool.query<JobRow>(LISTED_JOBS, [ids, filter.status, filter.since ?? null]);
  return rows.map(toJob);
}

// One statement, so a job row and its staging row commit together or not at all: the
// 202 is only sent once this commit returns. nextval feeds both inserts from one
// materialised scan, which keeps job ids in arrival order for the mover's "last wins".
// A job whose Idempotency-Key is taken (earlier, or by a concurrent request: the
// unique index makes this statement wait for that commit) is not created and stages
// nothing; created = false tells its caller to answer with the existing job. A key older
// than its TTL (the last parameter, hours) is taken over by the new job. One row per key
// per statement (the first), as ON CONFLICT DO UPDATE may touch a row once.
// The statement's text is the same for any number of jobs, so a connection that reaches
// PostgreSQL itself keeps it prepared (planning it cost about twice its execution for a
// one-ride job). Its parameters are arrays with one element per job (StageParams), and
// all the jobs' rides one staged_ride[] literal (stagedRidesText) that each job slices by
// its count: PostgreSQL reads each value once, here, and the mover reads typed rows.
// A job's rejected rides (an element of the json array, or null) go to the quarantine in
// the same statement, so its 202 means they are kept too.
export const STAGE_JOBS = `
WITH sent AS (
  SELECT ord, ride_count, months, idempotency_key, request_hash,
         sum(ride_count) OVER (ORDER BY ord) - ride_count AS before
  FROM unnest($1::int[], $2::text[], $4::text[], $5::text[]) WITH ORDINALITY AS j(ride_count, months, idempotency_key, request_hash, ord)
), input AS MATERIALIZED (
  SELECT nextval('jobs_id_seq') AS job_id, ord, ride_count, string_to_array(months, ',') AS months,
         ($3::staged_ride[])[before + 1 : before + ride_count] AS rides, idempotency_key, request_hash
  FROM sent ORDER BY ord
), new_keys AS (
  INSERT INTO idempotency_keys (key, job_id, request_hash)
  SELECT DISTINCT ON (idempotency_key) idempotency_key, job_id, request_hash FROM input
  WHERE idempotency_key IS NOT NULL ORDER BY idempotency_key, ord
  ON CONFLICT (key) DO UPDATE SET job_id = excluded.job_id, request_hash = excluded.request_hash, created_at = now()
  WHERE idempotency_keys.created_at < now() - make_interval(hours => $7::int)
  RETURNING job_id
), new_jobs AS (
  INSERT INTO jobs (id, accepted)
  SELECT job_id, ride_count FROM input WHERE idempotency_key IS NULL OR job_id IN (SELECT job_id FROM new_keys)
  RETURNING id
), new_staging AS (
  INSERT INTO staging (job_id, ride_count, months, rides)
  SELECT job_id, ride_count, months, rides FROM input WHERE job_id IN (SELECT id FROM new_jobs)
), counted AS (
  INSERT INTO job_counts (status, jobs) SELECT 'queued', count(*) FROM new_jobs HAVING count(*) > 0
), quarantined AS (
  INSERT INTO rejections (job_id, ride_index, ride_id, reasons, raw, truncated)
  SELECT i.job_id, r."index", r.ride_id, r.reasons, r.raw, r.truncated
  FROM json_array_elements($6::json) WITH ORDINALITY AS q(rejected, ord)
  JOIN input i ON i.ord = q.ord
  CROSS JOIN LATERAL json_to_recordset(CASE WHEN json_typeof(q.rejected) = 'array' THEN q.rejected END)
    AS r("index" int, ride_id bigint, reasons jsonb, raw text, truncated boolean)
  WHERE i.job_id IN (SELECT id FROM new_jobs)
)
SELECT job_id, now() AS received_at, job_id IN (SELECT id FROM new_jobs) AS created FROM input ORDER BY ord`;

/** One job for STAGE_JOBS. */
export type JobToStage = {
  rideCount: number;
  months: string[];
  /** stagedRideItems of the job's rides. */
  rideItems: string;
  idempotency?: { key: string; hash: string };
  /** The job's rejected rides as a json array, or null. */
  rejected: string | null;
};

/** STAGE_JOBS' parameters for these jobs, in this order. */
export function stageParams(jobs: JobToStage[], idempotencyKeyTtlHours: number): unknown[] {
  return [
    jobs.map((job) => job.rideCount),
    jobs.map((job) => job.months.join(",")),
    `{${jobs.map((job) => job.rideItems).join(",")}}`,
    jobs.map((job) => job.idempotency?.key ?? null),
    jobs.map((job) => job.idempotency?.hash ?? null),
    jobs.some((job) => job.rejected !== null) ? `[${jobs.map((job) => job.rejected ?? "null").join(",")}]` : null,
    idempotencyKeyTtlHours,
  ];
}

const nullable = (value: number | null) => (value === null ? "" : value);
const flag = (value: boolean) => (value ? "t" : "f");

/**
 * A job's rides as the elements of a staged_ride[] literal (no braces), fields in
 * RIDE_FIELDS order (the type's, migration 0013). Validated rides hold only numbers,
 * booleans, null and ISO 8601 UTC times, none of which holds a character an array or
 * record literal would need quoted inside its quotes. Each ride's template is a tree of
 * small strings (V8's cons strings, about seven times the text's size); joining them makes
 * one flat string, so a request that waits for its commit holds its literal's bytes only.
 */
export function stagedRideItems(rides: Ride[]): string {
  const items = new Array<string>(rides.length);
  for (let i = 0; i < rides.length; i++) {
    const r = rides[i];
    items[i] =
      `"(${r.id},${r.user_id},${r.vehicle_model_id},${nullable(r.package_id)},${r.travel_type_id},` +
      `${nullable(r.from_area_id)},${nullable(r.to_area_id)},${nullable(r.from_city_id)},${nullable(r.to_city_id)},` +
      `${r.from_date},${r.to_date ?? ""},${flag(r.online_booking)},${flag(r.mobile_site_booking)},${r.booking_created},` +
      `${nullable(r.from_lat)},${nullable(r.from_long)},${nullable(r.to_lat)},${nullable(r.to_long)},${flag(r.car_cancellation)})"`;
  }
  return items.join(",");
}

const COLUMN_TYPES: Record<string, string> = {
  id: "bigint",
  from_date: "timestamptz",
  to_date: "timestamptz",
  booking_created: "timestamptz",
  online_booking: "boolean",
  mobile_site_booking: "boolean",
  car_cancellation: "boolean",
  from_lat: "double precision",
  from_long: "double precision",
  to_lat: "double precision",
  to_long: "double precision",
};
export const columns = RIDE_FIELDS.join(", ");
export const recordType = RIDE_FIELDS.map((field) => `${field} ${COLUMN_TYPES[field] ?? "integer"}`).join(", ");
export const updates = [...RIDE_FIELDS.filter((f) => f !== "id" && f !== "from_date"), "job_id"]
  .map((field) => `${field} = excluded.${field}`)
  .join(", ");


// The oldest staged jobs, up to about `$1` rides, with the months they need.
export const NEXT_CHUNK = `
SELECT job_id, months FROM (
  SELECT job_id, months, sum(ride_count) OVER (ORDER BY job_id) - ride_count AS before
  FROM (SELECT job_id, months, ride_count FROM staging ORDER BY job_id LIMIT $1) oldest
) chunk WHERE before < $1 ORDER BY job_id`;

// The whole move of a chunk in one statement: take the jobs out of staging, keep the latest
// send of each ride (later job, later position), find the copies already stored, drop a copy
// that a resend moved to another month's partition, upsert, log the changes for the rollups,
// and count each job's rides that were written (a ride a later send in the same chunk
// replaced was superseded, not stored).
// Producers number rides upwards, so a chunk's ids usually lie above every stored one: when
// no stored ride falls within the chunk's lowest to highest id (one index descent per
// partition), none of its ids is stored and the gated probe, month-move and ON CONFLICT
// path never run (the planner's one-time filters); a plain INSERT writes the rides. A
// chunk that overlaps takes the general path, which fastPath: false forces for
// test/mover/fast-path.property.test.ts, which holds both to the same outcome.
export const moveJobsSql = (logForRollups: boolean, { fastPath = true } = {}) => `
WITH batch AS (
  DELETE FROM staging WHERE job_id = ANY($1::bigint[]) RETURNING job_id, rides
), incoming AS (
  SELECT DISTINCT ON (r.id) b.job_id, ${RIDE_FIELDS.map((f) => `r.${f}`).join(", ")}
  FROM batch b,
       unnest(b.rides) WITH ORDINALITY AS r(${columns}, position)
  ORDER BY r.id, b.job_id DESC, r.position DESC
), overlap AS MATERIALIZED (
  SELECT ${fastPath ? "EXISTS (SELECT 1 FROM rides WHERE id BETWEEN (SELECT min(id) FROM incoming) AND (SELECT max(id) FROM incoming))" : "true"} AS stored
), stored_copies AS MATERIALIZED (
  -- Any month may hold a ride's copy. The ANY() keeps this one primary-key probe per
  -- incoming id in each partition whatever the planner guesses about a join with incoming
  -- (without statistics it hashed every stored row): the chunk sets the cost, not the
  -- size of rides or its largest id.
  SELECT r.*, r.from_date <> i.from_date AS moved
  FROM rides r JOIN incoming i ON i.id = r.id
  WHERE r.id = ANY(ARRAY(SELECT id FROM incoming)) AND (SELECT stored FROM overlap)
), moved_month AS (
  DELETE FROM rides USING stored_copies c
  WHERE rides.id = ANY(ARRAY(SELECT id FROM stored_copies WHERE moved))
    AND rides.id = c.id AND rides.from_date = c.from_date AND c.moved
), inserted AS (
  INSERT INTO rides (${columns}, job_id)
  SELECT ${columns}, job_id FROM incoming WHERE NOT (SELECT stored FROM overlap)
  RETURNING job_id
), upserted AS (
  INSERT INTO rides (${columns}, job_id)
  SELECT ${columns}, job_id FROM incoming WHERE (SELECT stored FROM overlap)
  ON CONFLICT (id, from_date) DO UPDATE SET ${updates}, stored_at = now()
  RETURNING job_id
), written AS (
  SELECT job_id, count(*)::int AS stored FROM (SELECT job_id FROM inserted UNION ALL SELECT job_id FROM upserted) w GROUP BY job_id
)${logForRollups ? LOG_ROLLUP_CHANGES : ""}
SELECT b.job_id, coalesce(w.stored, 0) AS stored
FROM batch b LEFT JOIN written w ON w.job_id = b.job_id`;

// The transaction's last statement, just before COMMIT: now() is when the transaction
// began, before it waited for the mover's lock and ran the move, so finished_at takes the
// clock here, as close as PostgreSQL allows to the moment the rides become readable.
// The ANY() lets the planner probe the primary key instead of hashing the ever-growing jobs table.
export const FINISH_JOBS = `
WITH finished AS (
  UPDATE jobs SET status = 'done', stored = s.stored, finished_at = clock_timestamp()
  FROM unnest($1::bigint[], $2::int[]) AS s(id, stored)
  WHERE jobs.id = s.id AND jobs.id = ANY($1::bigint[])
  RETURNING jobs.id, jobs.attempts, jobs.stored, jobs.failed, jobs.error, jobs.finished_at
), ${countFinished("finished", "done")}, ${recordEvents("finished", "done")}, retried_payloads AS (
  -- A retried job's kept rides are stored now: their copy goes.
  DELETE FROM failed_payloads WHERE job_id IN (SELECT id FROM finished WHERE attempts > 1)
)
SELECT count(*) FROM finished`;

// The job's rides move to failed_payloads (logged) for a retry; a retried job that fails
// again keeps the copy its first failure kept.
export const FAIL_JOB = `
WITH gone AS (DELETE FROM staging WHERE job_id = $1 RETURNING ride_count, months, rides), kept AS (
  INSERT INTO failed_payloads (job_id, ride_count, months, rides) SELECT $1, ride_count, months, rides FROM gone
  ON CONFLICT (job_id) DO NOTHING
), failed_job AS (
  UPDATE jobs SET status = 'failed', failed = gone.ride_count, error = $2, finished_at = clock_timestamp()
  FROM gone WHERE jobs.id = $1
  RETURNING jobs.id, jobs.stored, jobs.failed, jobs.error, jobs.finished_at, jobs.attempts
), ${countFinished("failed_job", "failed")}, ${recordFailures("failed_job", "failed")}, ${recordEvents("failed_job", "failed")}
SELECT count(*) FROM failed_job`;


const STAGED_RIDES = "SELECT coalesce(sum(ride_count), 0)::bigint AS rides FROM staging";

/** Rides waiting in staging, all processes. */
export async function stagedRides(pool: pg.Pool): Promise<number> {
  return (await pool.query<{ rides: number }>(STAGED_RIDES)).rows[0].rides;
}

export type Backlog = { jobs: number; rides: number; oldestAgeSeconds: number };

// Ids follow arrival, so the oldest staged job is the lowest id; its receipt is then read
// by that id as a parameter, which the planner takes to its one partition (in the same
// statement, as a subquery, every partition of jobs was planned and opened on each call).
const BACKLOG = `
SELECT count(*)::int AS jobs, coalesce(sum(ride_count), 0)::int AS rides, min(job_id) AS oldest FROM staging`;
const AGE_OF_JOB = "SELECT extract(epoch FROM now() - received_at)::float8 AS seconds FROM jobs WHERE id = $1";

/** What waits in staging for the mover, and since when. */
export async function stagingBacklog(pool: pg.Pool): Promise<Backlog> {
  const { jobs, rides, oldest } = (await pool.query<{ jobs: number; rides: number; oldest: number | null }>(BACKLOG)).rows[0];
  const age = oldest === null ? [] : (await pool.query<{ seconds: number }>(AGE_OF_JOB, [oldest])).rows;
  // A job moved meanwhile is still in jobs; one gone (never, while queued) counts as none waiting.
  return { jobs, rides, oldestAgeSeconds: age[0]?.seconds ?? 0 };
}

const JOB_COUNTS = "SELECT status, sum(jobs)::bigint AS jobs FROM job_counts GROUP BY status";

// One row per status again, in one statement: a reader sees the rows before or after it.
const FOLD_JOB_COUNTS = `
WITH deltas AS (DELETE FROM job_counts RETURNING status, jobs)
INSERT INTO job_counts (status, jobs) SELECT status, sum(jobs) FROM deltas GROUP BY status`;

/** Folds the appended count changes, so reading the counts stays a few rows. */
export async function foldJobCounts(pool: pg.Pool): Promise<void> {
  await pool.query(FOLD_JOB_COUNTS);
}

export async function jobCounts(pool: pg.Pool): Promise<Record<JobStatus, number>> {
  const counts: Record<JobStatus, number> = { queued: 0, done: 0, failed: 0, lost: 0 };
  for (const row of (await pool.query<{ status: JobStatus; jobs: string }>(JOB_COUNTS)).rows) counts[row.status] = Number(row.jobs);
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

/** The job a sender's Idempotency-Key first created, with the hash of that request. */
export async function jobWithKey(pool: pg.Pool, key: string): Promise<{ id: number; request_hash: string }> {
  const { rows } = await pool.query<{ id: number; request_hash: string }>(
    "SELECT job_id AS id, request_hash FROM idempotency_keys WHERE key = $1",
    [key],
  );
  return rows[0];
}

// Above the newest job received before the last hour and $1 seconds more no job of the
// last hour can be, so the figures below read only the partitions after it. Found from the
// newest id backwards (min(id) over the window read every older job first: a year of them,
// seconds) and from the bound found before ($2; jobs below it were older then already), a
// parameter the planner keeps only the partitions after.
const LAST_HOUR_FROM = `
SELECT coalesce((SELECT id FROM jobs WHERE id >= $2::bigint AND received_at <= now() - interval '1 hour' - make_interval(secs => $1)
                 ORDER BY id DESC LIMIT 1), $2::bigint - 1) + 1 AS id`;
/** How long a process reuses that bound: its window is this much longer than an hour, so it still covers the hour. */
const LAST_HOUR_FROM_REUSE_MS = 60_000;
const lastHourFromByPool = new WeakMap<pg.Pool, { id: number; at: number }>();

async function lastHourFrom(pool: pg.Pool): Promise<number> {
  const known = lastHourFromByPool.get(pool);
  if (known && Date.now() - known.at < LAST_HOUR_FROM_REUSE_MS) return known.id;
  const { id } = (await pool.query<{ id: number }>(LAST_HOUR_FROM, [LAST_HOUR_FROM_REUSE_MS / 1000, known?.id ?? 0])).rows[0];
  lastHourFromByPool.set(pool, { id, at: Date.now() });
  return id;
}

const INTAKE = `
SELECT coalesce(sum(accepted) FILTER (WHERE received_at > now() - interval '1 minute'), 0)::int AS "lastMinute",
       coalesce(sum(accepted), 0)::int AS "lastHour"
FROM jobs WHERE id >= $1 AND received_at > now() - interval '1 hour'`;

const FRESHNESS = `
SELECT count(*)::int AS jobs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds) AS p95,
       max(seconds) AS max
FROM (
  SELECT extract(epoch FROM finished_at - received_at)::float8 AS seconds
  FROM jobs WHERE id >= $2 AND status = 'done' AND received_at > now() - make_interval(mins => $1)
) done`;

/** Rides accepted in the last minute and hour. */
export async function recentIntake(pool: pg.Pool): Promise<{ lastMinute: number; lastHour: number }> {
  return (await pool.query(INTAKE, [await lastHourFrom(pool)])).rows[0];
}

export type Freshness = { jobs: number; p50: number | null; p95: number | null; max: number | null };

/** How long jobs received in the last `minutes` (at most an hour) took from 202 to stored. */
export async function freshness(pool: pg.Pool, minutes: number): Promise<Freshness> {
  return (await pool.query(FRESHNESS, [minutes, await lastHourFrom(pool)])).rows[0];
}

// Pruning (src/retention/pruner.ts). Each statement is bounded and commits alone; the
// counts, failure list and keys of the jobs it drops go in the same statement or
// transaction, so a kill at any point leaves them true to the jobs kept.

/** A partition may go when its newest job is past retention and none of its jobs waits to be moved. */
const partitionAge = (name: string) => `
SELECT (SELECT received_at FROM ${name} ORDER BY id DESC LIMIT 1) < now() - make_interval(days => $1) AS expired,
       EXISTS (SELECT 1 FROM ${name} WHERE status = 'queued') AS queued`;

export type PartitionAge = { expired: boolean | null; queued: boolean };

export async function partitionAgeOf(pool: pg.Pool, name: string, retentionDays: number): Promise<PartitionAge> {
  return (await pool.query<PartitionAge>(partitionAge(name), [retentionDays])).rows[0];
}

/**
 * Detaches a jobs partition without blocking intake or mover; FINALIZE completes one a
 * crash or the timeout left half detached.
 */
export async function detachJobPartition(pool: pg.Pool, name: string, pending: boolean): Promise<void> {
  await detachPartition(pool, { table: "jobs", partition: name, finalize: pending });
}

/** Drops a detached partition and everything tied to its jobs, in one transaction; the number of jobs dropped. */
export async function dropDetachedJobs(client: pg.PoolClient, partition: { name: string; from: number; to: number }): Promise<number> {
  const { name, from, to } = partition;
  const { rows } = await client.query<{ jobs: number }>(`
WITH counted AS (
  INSERT INTO job_counts (status, jobs) SELECT status, -count(*) FROM ${name} GROUP BY status RETURNING -jobs AS jobs
)
SELECT coalesce(sum(jobs), 0)::bigint AS jobs FROM counted`);
  await client.query("DELETE FROM job_failures WHERE job_id >= $1 AND job_id < $2", [from, to]);
  await client.query("DELETE FROM idempotency_keys WHERE job_id >= $1 AND job_id < $2", [from, to]);
  await client.query("DELETE FROM job_events WHERE job_id >= $1 AND job_id < $2", [from, to]);
  await client.query("DELETE FROM webhook_deliveries WHERE job_id >= $1 AND job_id < $2", [from, to]);
  await client.query("UPDATE job_retention SET pruned_below = greatest(pruned_below, $1)", [to]);
  await client.query(`DROP TABLE ${name}`);
  return rows[0].jobs;
}

// In a partition past retention that still holds a queued job: the finished jobs past
// retention, oldest first, at most $4 of them.
const DELETE_EXPIRED_JOBS = `
WITH gone AS (
  DELETE FROM jobs WHERE id IN (
    SELECT id FROM jobs WHERE id >= $1 AND id < $2 AND status <> 'queued' AND received_at < now() - make_interval(days => $3)
    ORDER BY id LIMIT $4)
  RETURNING id, status
), counted AS (
  INSERT INTO job_counts (status, jobs) SELECT status, -count(*) FROM gone GROUP BY status
), failures AS (
  DELETE FROM job_failures WHERE job_id IN (SELECT id FROM gone)
), keys AS (
  DELETE FROM idempotency_keys WHERE job_id IN (SELECT id FROM gone)
), events AS (
  DELETE FROM job_events WHERE job_id IN (SELECT id FROM gone)
), deliveries AS (
  DELETE FROM webhook_deliveries WHERE job_id IN (SELECT id FROM gone)
), marked AS (
  -- Jobs below it that are still there are queued ones, which a GET finds first.
  UPDATE job_retention SET pruned_below = greatest(pruned_below, (SELECT max(id) + 1 FROM gone)) WHERE EXISTS (SELECT 1 FROM gone)
)
SELECT count(*)::int AS jobs FROM gone`;

export type ExpiredJobs = { from: number; to: number; retentionDays: number; limit: number };

export async function deleteExpiredJobs(pool: pg.Pool, { from, to, retentionDays, limit }: ExpiredJobs): Promise<number> {
  return (await pool.query<{ jobs: number }>(DELETE_EXPIRED_JOBS, [from, to, retentionDays, limit])).rows[0].jobs;
}

// Keys are created in job order, so the job_id index reaches the expired ones first.
const EXPIRE_KEYS = `
DELETE FROM idempotency_keys WHERE key IN (
  SELECT key FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1) ORDER BY job_id LIMIT $2)`;

/** Deletes at most `limit` Idempotency-Keys older than `ttlHours`; how many it deleted. */
export async function expireIdempotencyKeys(pool: pg.Pool, ttlHours: number, limit: number): Promise<number> {
  return (await pool.query(EXPIRE_KEYS, [ttlHours, limit])).rowCount ?? 0;
}

export async function oldestKeptJobId(pool: pg.Pool): Promise<number | null> {
  return (await pool.query<{ id: number | null }>("SELECT min(id) AS id FROM jobs")).rows[0].id;
}

// Retry (src/jobs/retry.ts), in one transaction that holds the mover's lock.

export const LOCK_JOB = "SELECT status FROM jobs WHERE id = $1 FOR UPDATE";
export const HAS_PAYLOAD = "SELECT EXISTS (SELECT 1 FROM failed_payloads WHERE job_id = $1) AS kept";

// The kept rides go back to staging under the same job id, which the mover takes first
// (the oldest id). A ride a later job stored since is left out: "the latest send wins"
// goes by job id, and this send is older; it counts as superseded. So is a ride whose
// month RIDES_RETENTION_MONTHS dropped since, which the mover would create again. The
// job's counts move from its old status ($2) to queued, and it leaves the failure list.
export const REQUEUE_JOB = `
WITH sent AS (
  SELECT p.rides[position] AS ride, position FROM failed_payloads p, generate_subscripts(p.rides, 1) AS position WHERE p.job_id = $1
), newer AS (
  SELECT id FROM rides WHERE id = ANY(ARRAY(SELECT (ride).id FROM sent)) AND job_id > $1
), kept AS (
  SELECT coalesce(array_agg(s.ride ORDER BY s.position), '{}') AS rides, count(*)::int AS ride_count
  FROM sent s WHERE NOT EXISTS (SELECT 1 FROM newer n WHERE n.id = (s.ride).id)
    AND coalesce((s.ride).from_date >= (SELECT kept_from FROM rides_retention), true)
), requeued AS (
  UPDATE jobs SET status = 'queued', attempts = attempts + 1, failed = 0, error = NULL, finished_at = NULL
  WHERE id = $1 AND status = $2 RETURNING id
), restaged AS (
  INSERT INTO staging (job_id, ride_count, months, rides)
  SELECT $1, kept.ride_count, (SELECT months FROM failed_payloads WHERE job_id = $1), kept.rides FROM kept WHERE EXISTS (SELECT 1 FROM requeued)
), counted AS (
  INSERT INTO job_counts (status, jobs) SELECT v.status, v.jobs FROM requeued CROSS JOIN (VALUES ($2::text, -1), ('queued', 1)) AS v(status, jobs)
), unlisted AS (
  DELETE FROM job_failures WHERE job_id IN (SELECT id FROM requeued)
)
SELECT count(*)::int AS requeued FROM requeued`;

// The quarantine (rejections): written by the stage statement, read here, pruned after its job.

export type Rejection = {
  job_id: number;
  index: number;
  ride_id: number | null;
  reasons: { path: string; message: string }[];
  raw: string;
  truncated: boolean;
  received_at: string;
};
type RejectionRow = Omit<Rejection, "received_at"> & { received_at: Date };
const toRejection = (row: RejectionRow): Rejection => ({ ...row, received_at: row.received_at.toISOString() });

const REJECTION_COLUMNS = "job_id, ride_index AS index, ride_id, reasons, raw, truncated, received_at";

const JOB_REJECTIONS = `
SELECT ${REJECTION_COLUMNS} FROM rejections WHERE job_id = $1 AND ride_index > $2 ORDER BY ride_index LIMIT $3`;

/** A job's rejected rides in request order, after the ride at index `after`. */
export async function jobRejections(pool: pg.Pool, jobId: number, after: number, limit: number): Promise<Rejection[]> {
  return (await pool.query<RejectionRow>(JOB_REJECTIONS, [jobId, after, limit])).rows.map(toRejection);
}

// Newest first along the primary key. since and until bound the job ids first (jobs'
// received_at index, a minute of slack for statements that drew ids out of clock order),
// so a time window reads its own rows; the rows are then filtered on their own time. A
// rejection whose job was pruned and that the pruner has not reached yet is not shown.
const REJECTIONS = `
SELECT ${REJECTION_COLUMNS} FROM rejections r
WHERE ($1::timestamptz IS NULL OR (r.received_at >= $1 AND r.job_id >= coalesce(
        (SELECT id FROM jobs WHERE received_at >= $1 - interval '1 minute' ORDER BY received_at LIMIT 1), 9223372036854775807)))
  AND ($2::timestamptz IS NULL OR (r.received_at < $2 AND r.job_id <= coalesce(
        (SELECT id FROM jobs WHERE received_at < $2 + interval '1 minute' ORDER BY received_at DESC LIMIT 1), 0)))
  AND ($3::text IS NULL OR r.reasons @> jsonb_build_array(jsonb_build_object('path', $3::text)))
  AND ($4::bigint IS NULL OR (r.job_id, r.ride_index) < ($4, $5::int))
  AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = r.job_id)
ORDER BY r.job_id DESC, r.ride_index DESC LIMIT $6`;

export type RejectionFilter = { since?: string; until?: string; field?: string; before?: { jobId: number; index: number }; limit: number };

/** Rejected rides of every kept job, newest first, before the cursor `before`. */
export async function listRejections(pool: pg.Pool, filter: RejectionFilter): Promise<Rejection[]> {
  const values = [filter.since ?? null, filter.until ?? null, filter.field ?? null, filter.before?.jobId ?? null, filter.before?.index ?? null, filter.limit];
  return (await pool.query<RejectionRow>(REJECTIONS, values)).rows.map(toRejection);
}

// The dashboard's view of the quarantine: per hour over the last 24 hours (every hour, zeros
// included), and the reasons of the last hour (path and message, as the senders will read
// them) most met first.
const REJECTIONS_BY_HOUR = `
WITH hours AS (
  SELECT generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()), interval '1 hour') AS hour
), counted AS (
  SELECT date_trunc('hour', received_at) AS hour, count(*)::int AS rides FROM rejections
  WHERE received_at >= (SELECT min(hour) FROM hours)
    AND job_id >= coalesce((SELECT id FROM jobs WHERE received_at >= (SELECT min(hour) FROM hours) - interval '1 minute' ORDER BY received_at LIMIT 1), 9223372036854775807)
  GROUP BY 1
)
SELECT h.hour, coalesce(c.rides, 0) AS rides FROM hours h LEFT JOIN counted c USING (hour) ORDER BY h.hour`;
const TOP_REASONS = `
SELECT reason->>'path' AS path, reason->>'message' AS message, count(*)::int AS rides
FROM rejections, jsonb_array_elements(reasons) AS reason
WHERE received_at > now() - interval '1 hour'
  AND job_id >= coalesce((SELECT id FROM jobs WHERE received_at > now() - interval '1 hour 1 minute' ORDER BY received_at LIMIT 1), 9223372036854775807)
GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT $1`;

export type QuarantineStats = { byHour: { hour: string; rides: number }[]; topReasons: { path: string; message: string; rides: number }[] };

export async function quarantineStats(pool: pg.Pool, topReasons: number): Promise<QuarantineStats> {
  const [hours, reasons] = await Promise.all([
    pool.query<{ hour: Date; rides: number }>(REJECTIONS_BY_HOUR),
    pool.query<{ path: string; message: string; rides: number }>(TOP_REASONS, [topReasons]),
  ]);
  return { byHour: hours.rows.map((row) => ({ hour: row.hour.toISOString(), rides: row.rides })), topReasons: reasons.rows };
}

// Pruning the quarantine and the failed payloads: only rows whose job is gone (below
// pruned_below and not in jobs), so never before their job, and in bounded batches after it.
const sweepOrphans = (table: string, key: string) => `
DELETE FROM ${table} WHERE (${key}) IN (
  SELECT ${key} FROM ${table} t
  WHERE t.job_id < (SELECT pruned_below FROM job_retention) AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = t.job_id)
  ORDER BY ${key} LIMIT $1)`;
const SWEEP_REJECTIONS = sweepOrphans("rejections", "job_id, ride_index");
const SWEEP_PAYLOADS = sweepOrphans("failed_payloads", "job_id");

/** Deletes at most `limit` rejections of pruned jobs; how many it deleted. */
export async function sweepRejections(pool: pg.Pool, limit: number): Promise<number> {
  return (await pool.query(SWEEP_REJECTIONS, [limit])).rowCount ?? 0;
}

/** Deletes at most `limit` kept payloads of pruned jobs; how many it deleted. */
export async function sweepFailedPayloads(pool: pg.Pool, limit: number): Promise<number> {
  return (await pool.query(SWEEP_PAYLOADS, [limit])).rowCount ?? 0;
}
