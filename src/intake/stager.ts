import pg from "pg";
import { statement, withClient } from "../db/client.ts";
import type { Ride } from "../rides/index.ts";
import { monthIn } from "../rides/time.ts";
import { type JobToStage, STAGE_JOBS, stagedRideItems, stageParams } from "../jobs/store.ts";

export type StagedJob = { jobId: number; receivedAt: Date; created: boolean };
/** A sender's Idempotency-Key and the hash of the request it came with. */
export type IdempotencyKey = { key: string; hash: string };

/** The staging statement was sent and the connection broke before its answer: the rides may or may not be committed. */
export class CommitOutcomeUnknown extends Error {}

type StagedRow = { job_id: number; received_at: Date; created: boolean };
const DEADLOCK = "40P01";
// The only check the stage statement can fail: no jobs partition holds the new id.
const NO_PARTITION = "23514";

type Waiting = JobToStage & {
  /** Jobs staged together share one: they go in one statement, so their ids keep their order. */
  unit?: object;
  resolve: (job: StagedJob) => void;
  reject: (error: unknown) => void;
};

/** Most rides and jobs one statement carries; beyond them waiting requests go in the next one. */
export const MAX_RIDES_PER_STATEMENT = 50_000;
export const MAX_JOBS_PER_STATEMENT = 1_000;
/**
 * pg's query_timeout answers the caller without cancelling the statement, which then
 * may still commit: its 503 would say "not taken" of rides that are. A statement that
 * stages rides is therefore waited for as long as the database takes (a broken
 * connection still ends it). 0 would mean the pool's timeout, so it is the longest
 * timer Node holds, about 24 days.
 */
const WAIT_FOR_THE_COMMIT_MS = 2 ** 31 - 1;
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
  /** The pool reaches PostgreSQL itself, not a transaction pooler: the statement is kept prepared (db/client.ts). */
  prepare: boolean;
};

/** What the stage statement needs of a job's rides: the months of their partitions (in partitionZone) and their literal. */
export function jobToStage(rides: Ride[], partitionZone: string): Pick<JobToStage, "rideCount" | "months" | "rideItems"> {
  const months = [...new Set(rides.map((ride) => monthIn(Date.parse(ride.from_date), partitionZone)))];
  return { rideCount: rides.length, months, rideItems: stagedRideItems(rides) };
}

/**
 * Stages each request's rides as one job. Requests that arrive while a commit is in
 * flight share the next statement (group commit): one round trip for many requests,
 * and each caller still waits for the commit that holds its own rides.
 */
export function createStager({ pool, partitionZone, idempotencyKeyTtlHours, ensureJobPartitions, onStaged, prepare }: StagerOptions) {
  const stageStatement = statement({ name: "stage-jobs", text: STAGE_JOBS, prepare });
  let waiting: Waiting[] = [];
  let inFlight = 0;

  function flush() {
    while (inFlight < MAX_IN_FLIGHT && waiting.length > 0) {
      let take = 0;
      let rides = 0;
      while (
        take < waiting.length &&
        take < MAX_JOBS_PER_STATEMENT &&
        (take === 0 || rides + waiting[take].rideCount <= MAX_RIDES_PER_STATEMENT)
      ) {
        rides += waiting[take].rideCount;
        take++;
      }
      // Two statements run at once and either may draw its job ids first: a unit is not split.
      const cut = take;
      while (take > 0 && take < waiting.length && waiting[take].unit !== undefined && waiting[take].unit === waiting[take - 1].unit) take--;
      if (take === 0) take = cut;
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
      const { rows } = await stageWithRetry(stageParams(batch, idempotencyKeyTtlHours));
      batch.forEach((entry, i) => entry.resolve({ jobId: rows[i].job_id, receivedAt: rows[i].received_at, created: rows[i].created }));
      onStaged();
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }

  // Two batches waiting on each other's Idempotency-Keys deadlock; PostgreSQL aborts one,
  // which staged nothing and can simply run again. So can one whose job ids outran the
  // partitions kept ready, once they are added.
  async function stageWithRetry(params: unknown[], attempt = 1): Promise<pg.QueryResult<StagedRow>> {
    try {
      return await stageOnce(params);
    } catch (error) {
      const code = (error as { code?: string }).code;
      const noPartition = code === NO_PARTITION;
      if ((code !== DEADLOCK && !noPartition) || attempt >= 3) throw error;
      if (noPartition) await ensureJobPartitions();
      return stageWithRetry(params, attempt + 1);
    }
  }

  const enqueue = (rides: Ride[], idempotency?: IdempotencyKey, unit?: object, rejected: string | null = null) =>
    new Promise<StagedJob>((resolve, reject) => {
      waiting.push({ ...jobToStage(rides, partitionZone), rejected, idempotency, unit, resolve, reject });
    });

  // On a client of its own, so a failure to connect (nothing sent) is told apart from a
  // connection lost while the statement ran (it may have committed).
  function stageOnce(params: unknown[]): Promise<pg.QueryResult<StagedRow>> {
    return withClient(pool, async (client, markBroken) => {
      try {
        // pg reads query_timeout from a query's config; @types/pg does not list it.
        const query = { ...stageStatement, values: params, query_timeout: WAIT_FOR_THE_COMMIT_MS };
        return await client.query<StagedRow>(query);
      } catch (error) {
        // An error the database sent: it rolled the statement back.
        if (error instanceof pg.DatabaseError) throw error;
        markBroken(error as Error);
        throw new CommitOutcomeUnknown((error as Error).message);
      }
    });
  }

  return {
    /** `rejected`: the request's rejected rides as a json array (Quarantine.json), committed with its job. */
    stage(rides: Ride[], idempotency?: IdempotencyKey, rejected?: string | null): Promise<StagedJob> {
      const staged = enqueue(rides, idempotency, undefined, rejected);
      flush();
      return staged;
    },
    /**
     * Stages each entry as a job, all in one statement, so their job ids are in this
     * order (a stream's frames); callers keep a unit within one statement's limits.
     */
    stageInOrder(jobs: Ride[][], rejected: (string | null)[] = []): Promise<StagedJob[]> {
      const unit = {};
      const staged = Promise.all(jobs.map((rides, i) => enqueue(rides, undefined, unit, rejected[i])));
      flush();
      return staged;
    },
  };
}

export type Stager = ReturnType<typeof createStager>;
