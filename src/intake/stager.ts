import type pg from "pg";
import type { Ride } from "../rides/index.ts";
import { monthIn } from "../rides/time.ts";
import { stageJobs } from "../jobs/store.ts";

export type StagedJob = { jobId: number; receivedAt: Date; created: boolean };
/** A sender's Idempotency-Key and the hash of the request it came with. */
export type IdempotencyKey = { key: string; hash: string };

type StagedRow = { job_id: number; received_at: Date; created: boolean };
const DEADLOCK = "40P01";
// The only check the stage statement can fail: no jobs partition holds the new id.
const NO_PARTITION = "23514";

type Waiting = {
  rides: number;
  months: string[];
  json: string;
  idempotency?: IdempotencyKey;
  resolve: (job: StagedJob) => void;
  reject: (error: unknown) => void;
};

/** Most rides and jobs one statement carries; beyond them waiting requests go in the next one. */
const MAX_RIDES_PER_STATEMENT = 50_000;
const MAX_JOBS_PER_STATEMENT = 1_000;
/** Two statements in flight let the next batch gather while one commits. */
const MAX_IN_FLIGHT = 2;

export type StagerOptions = {
  pool: pg.Pool;
  /** RIDES_TIME_ZONE: the months of the partitions a job's rides need. */
  partitionZone: string;
  idempotencyKeyTtlHours: number;
  /** Adds jobs partitions when an insert finds none for its id (normally they are ready ahead). */
  ensureJobPartitions: () => Promise<void>;
  onStaged: () => void;
};

/**
 * Stages each request's rides as one job. Requests that arrive while a commit is in
 * flight share the next statement (group commit): one round trip for many requests,
 * and each caller still waits for the commit that holds its own rides.
 */
export function createStager({ pool, partitionZone, idempotencyKeyTtlHours, ensureJobPartitions, onStaged }: StagerOptions) {
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
      const { rows } = await stageWithRetry(
        batch.length,
        [
          ...batch.flatMap((entry) => [entry.rides, entry.months, entry.json, entry.idempotency?.key ?? null, entry.idempotency?.hash ?? null]),
          idempotencyKeyTtlHours,
        ],
      );
      batch.forEach((entry, i) => entry.resolve({ jobId: rows[i].job_id, receivedAt: rows[i].received_at, created: rows[i].created }));
      onStaged();
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }

  // Two batches waiting on each other's Idempotency-Keys deadlock; PostgreSQL aborts one,
  // which staged nothing and can simply run again. So can one whose job ids outran the
  // partitions kept ready, once they are added.
  async function stageWithRetry(jobs: number, params: unknown[], attempt = 1): Promise<pg.QueryResult<StagedRow>> {
    try {
      return await pool.query<StagedRow>(stageJobs(jobs), params);
    } catch (error) {
      const code = (error as { code?: string }).code;
      const noPartition = code === NO_PARTITION;
      if ((code !== DEADLOCK && !noPartition) || attempt >= 3) throw error;
      if (noPartition) await ensureJobPartitions();
      return stageWithRetry(jobs, params, attempt + 1);
    }
  }

  return {
    stage(rides: Ride[], idempotency?: IdempotencyKey): Promise<StagedJob> {
      const months = [...new Set(rides.map((ride) => monthIn(Date.parse(ride.from_date), partitionZone)))];
      const json = JSON.stringify(rides);
      return new Promise((resolve, reject) => {
        waiting.push({ rides: rides.length, months, json, idempotency, resolve, reject });
        flush();
      });
    },
  };
}

export type Stager = ReturnType<typeof createStager>;
