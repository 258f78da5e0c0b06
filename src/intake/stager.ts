import type pg from "pg";
import type { Ride } from "../rides/index.ts";
import { monthIn } from "../rides/time.ts";

export type StagedJob = { jobId: number; receivedAt: Date };

// One statement, so a job row and its staging row commit together or not at all: the
// 202 is only sent once this commit returns. nextval feeds both inserts from one
// materialised scan, which keeps job ids in arrival order for the mover's "last wins".
// Each job's rides are a parameter of their own, stored as the json text they arrive
// as: PostgreSQL only checks it, where building jsonb of a whole batch cost three
// times as much (the mover reads it once with json_to_recordset).
function stageJobs(jobs: number): string {
  const rows = Array.from({ length: jobs }, (_, i) => `(${i}, $${3 * i + 1}::int, $${3 * i + 2}::text[], $${3 * i + 3}::json)`);
  return `
WITH input AS MATERIALIZED (
  SELECT nextval('jobs_id_seq') AS job_id, ord, ride_count, months, rides
  FROM (VALUES ${rows.join(", ")}) AS v(ord, ride_count, months, rides)
  ORDER BY ord
), new_jobs AS (
  INSERT INTO jobs (id, accepted) OVERRIDING SYSTEM VALUE
  SELECT job_id, ride_count FROM input
), new_staging AS (
  INSERT INTO staging (job_id, ride_count, months, rides)
  SELECT job_id, ride_count, months, rides FROM input
)
SELECT job_id, now() AS received_at FROM input ORDER BY ord`;
}

type Waiting = { rides: number; months: string[]; json: string; resolve: (job: StagedJob) => void; reject: (error: unknown) => void };

/** Most rides and jobs one statement carries; beyond them waiting requests go in the next one. */
const MAX_RIDES_PER_STATEMENT = 50_000;
const MAX_JOBS_PER_STATEMENT = 1_000;
/** Two statements in flight let the next batch gather while one commits. */
const MAX_IN_FLIGHT = 2;

/**
 * Stages each request's rides as one job. Requests that arrive while a commit is in
 * flight share the next statement (group commit): one round trip for many requests,
 * and each caller still waits for the commit that holds its own rides.
 */
export function createStager(pool: pg.Pool, partitionZone: string, onStaged: () => void) {
  let waiting: Waiting[] = [];
  let inFlight = 0;

  function flush() {
    while (inFlight < MAX_IN_FLIGHT && waiting.length > 0) {
      let take = 0;
      let rides = 0;
      while (
        take < waiting.length &&
        take < MAX_JOBS_PER_STATEMENT &&
        (take === 0 || rides + waiting[take].rides <= MAX_RIDES_PER_STATEMENT)
      ) {
        rides += waiting[take].rides;
        take++;
      }
      const batch = waiting.slice(0, take);
      waiting = waiting.slice(take);
      inFlight++;
      commit(batch).finally(() => {
        inFlight--;
        flush();
      });
    }
  }

  async function commit(batch: Waiting[]) {
    try {
      const { rows } = await pool.query<{ job_id: number; received_at: Date }>(
        stageJobs(batch.length),
        batch.flatMap((entry) => [entry.rides, entry.months, entry.json]),
      );
      batch.forEach((entry, i) => entry.resolve({ jobId: rows[i].job_id, receivedAt: rows[i].received_at }));
      onStaged();
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }

  return {
    stage(rides: Ride[]): Promise<StagedJob> {
      const months = [...new Set(rides.map((ride) => monthIn(Date.parse(ride.from_date), partitionZone)))];
      const json = JSON.stringify(rides);
      return new Promise((resolve, reject) => {
        waiting.push({ rides: rides.length, months, json, resolve, reject });
        flush();
      });
    },
  };
}

export type Stager = ReturnType<typeof createStager>;
