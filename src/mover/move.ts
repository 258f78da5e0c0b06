import type pg from "pg";
import { inTransaction } from "../db/client.ts";
import { isRefusedData } from "../db/errors.ts";
import { notifyFinished } from "../jobs/status.ts";
import { RIDE_FIELDS } from "../rides/index.ts";
import { FILL_EMPTY_ROLLUPS, FOLDER_LOCK, LOG_ROLLUP_CHANGES } from "../rollup/rollups.ts";

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

/** Serialises movers cluster-wide, so a later send of a ride is never overwritten by an earlier one. */
const MOVER_LOCK = "SELECT pg_advisory_xact_lock(hashtext('rides-mover'))";

// The oldest staged jobs, up to about `$1` rides, with the months they need.
const NEXT_CHUNK = `
SELECT job_id, months FROM (
  SELECT job_id, months, sum(ride_count) OVER (ORDER BY job_id) - ride_count AS before
  FROM (SELECT job_id, months, ride_count FROM staging ORDER BY job_id LIMIT $1) oldest
) chunk WHERE before < $1 ORDER BY job_id`;

// The whole move of a chunk in one statement: take the jobs out of staging, keep the latest
// send of each ride (later job, later position), find the copies already stored, drop a copy
// that a resend moved to another month's partition, upsert, log the changes for the rollups,
// and count each job's rides that were written (a ride a later send in the same chunk
// replaced was superseded, not stored).
export const moveJobsSql = (logForRollups: boolean) => `
WITH batch AS (
  DELETE FROM staging WHERE job_id = ANY($1::bigint[]) RETURNING job_id, rides
), incoming AS (
  SELECT DISTINCT ON (r.id) b.job_id, ${RIDE_FIELDS.map((f) => `r.${f}`).join(", ")}
  FROM batch b,
       ROWS FROM (json_to_recordset(b.rides) AS (${recordType})) WITH ORDINALITY AS r(${columns}, position)
  ORDER BY r.id, b.job_id DESC, r.position DESC
), stored_copies AS MATERIALIZED (
  -- Any month may hold a ride's copy. The ANY() keeps this one primary-key probe per
  -- incoming id in each partition whatever the planner guesses about a join with incoming
  -- (without statistics it hashed every stored row): the chunk sets the cost, not the
  -- size of rides or its largest id.
  SELECT r.*, r.from_date <> i.from_date AS moved
  FROM rides r JOIN incoming i ON i.id = r.id
  WHERE r.id = ANY(ARRAY(SELECT id FROM incoming))
), moved_month AS (
  DELETE FROM rides USING stored_copies c
  WHERE rides.id = ANY(ARRAY(SELECT id FROM stored_copies WHERE moved))
    AND rides.id = c.id AND rides.from_date = c.from_date AND c.moved
), upserted AS (
  INSERT INTO rides (${columns}, job_id)
  SELECT ${columns}, job_id FROM incoming
  ON CONFLICT (id, from_date) DO UPDATE SET ${updates}, stored_at = now()
  RETURNING job_id
)${logForRollups ? LOG_ROLLUP_CHANGES : ""}
SELECT b.job_id, count(u.job_id)::int AS stored
FROM batch b LEFT JOIN upserted u ON u.job_id = b.job_id
GROUP BY b.job_id`;

// The transaction's last statement, just before COMMIT: now() is when the transaction
// began, before it waited for the mover's lock and ran the move, so finished_at takes the
// clock here, as close as PostgreSQL allows to the moment the rides become readable.
// The ANY() lets the planner probe the primary key instead of hashing the ever-growing jobs table.
const FINISH_JOBS = `
UPDATE jobs SET status = 'done', stored = s.stored, finished_at = clock_timestamp()
FROM unnest($1::bigint[], $2::int[]) AS s(id, stored)
WHERE jobs.id = s.id AND jobs.id = ANY($1::bigint[])`;

const FAIL_JOB = `
WITH gone AS (DELETE FROM staging WHERE job_id = $1 RETURNING ride_count)
UPDATE jobs SET status = 'failed', failed = gone.ride_count, error = $2, finished_at = clock_timestamp()
FROM gone WHERE jobs.id = $1`;

export type ChunkResult = { jobs: number; rides: number; failedJobs: number };

/** `zone` is RIDES_TIME_ZONE; only benchmarks turn `logForRollups` off. */
export function createMover(
  pool: pg.Pool,
  ensurePartitions: (months: string[]) => Promise<void>,
  chunkRows: number,
  zone: string,
  logForRollups = true,
) {
  const MOVE_JOBS = moveJobsSql(logForRollups);
  const locked = <T>(work: (client: pg.PoolClient) => Promise<T>) =>
    inTransaction(pool, async (client) => {
      await client.query(MOVER_LOCK);
      return work(client);
    });

  const moveJobs = (jobIds: number[]) =>
    locked(async (client) => {
      const { rows } = await client.query<{ job_id: number; stored: number }>(MOVE_JOBS, [jobIds]);
      const stored = rows.map((row) => row.stored);
      await client.query(FINISH_JOBS, [rows.map((row) => row.job_id), stored]);
      await notifyFinished(client, jobIds);
      return { jobs: rows.length, rides: stored.reduce((sum, n) => sum + n, 0) };
    });

  return {
    /** Fills the rollups from rides when they are new to a database that already holds rides; true if it did. */
    backfillRollups: () =>
      locked(async (client) => {
        await client.query(FOLDER_LOCK);
        let filled = 0;
        for (const statement of FILL_EMPTY_ROLLUPS) filled += (await client.query(statement, [zone])).rowCount ?? 0;
        return filled > 0;
      }),
    /** Moves the oldest staged chunk; a job the database refuses is failed alone and its neighbours still move. */
    async moveChunk(): Promise<ChunkResult> {
      const { rows } = await pool.query<{ job_id: number; months: string[] }>(NEXT_CHUNK, [chunkRows]);
      if (rows.length === 0) return { jobs: 0, rides: 0, failedJobs: 0 };
      await ensurePartitions(rows.flatMap((row) => row.months));
      const jobIds = rows.map((row) => row.job_id);
      try {
        return { ...(await moveJobs(jobIds)), failedJobs: 0 };
      } catch (error) {
        if (!isRefusedData(error)) throw error;
      }
      const result: ChunkResult = { jobs: 0, rides: 0, failedJobs: 0 };
      for (const jobId of jobIds) {
        try {
          const moved = await moveJobs([jobId]);
          result.jobs += moved.jobs;
          result.rides += moved.rides;
        } catch (error) {
          if (!isRefusedData(error)) throw error;
          const reason = `the database refused the rides: ${(error as Error).message}`;
          await locked(async (client) => {
            await client.query(FAIL_JOB, [jobId, reason]);
            await notifyFinished(client, [jobId]);
          });
          result.failedJobs++;
        }
      }
      return result;
    },
  };
}

export type Mover = ReturnType<typeof createMover>;
