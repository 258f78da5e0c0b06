import type pg from "pg";
import { inTransaction, statement } from "../db/client.ts";
import { isRefusedData } from "../db/errors.ts";
import { FAIL_JOB, FINISH_JOBS, JOB_EVENTS_LOCK, moveJobsSql, NEXT_CHUNK, notifyFinished } from "../jobs/store.ts";
import { FILL_EMPTY_ROLLUPS, FOLDER_LOCK, ROLLUPS_NEED_FILLING } from "../rollup/rollups.ts";

/** Serialises movers cluster-wide, so a later send of a ride is never overwritten by an earlier one. */
export const MOVER_LOCK = "SELECT pg_advisory_xact_lock(hashtext('rides-mover'))";

export type ChunkResult = { jobs: number; rides: number; failedJobs: number };

export type MoverOptions = {
  pool: pg.Pool;
  ensurePartitions: (months: string[]) => Promise<void>;
  /** MOVER_CHUNK_ROWS: about how many rides one transaction moves. */
  chunkRows: number;
  /** RIDES_TIME_ZONE. */
  zone: string;
  /** Only benchmarks turn it off. */
  logForRollups?: boolean;
  /** The pool reaches PostgreSQL itself: the chunk's statements are kept prepared (db/client.ts). */
  prepare: boolean;
};

export function createMover({ pool, ensurePartitions, chunkRows, zone, logForRollups = true, prepare }: MoverOptions) {
  const nextChunk = statement({ name: "next-chunk", text: NEXT_CHUNK, prepare });
  const moveChunkJobs = statement({ name: logForRollups ? "move-jobs" : "move-jobs-unlogged", text: moveJobsSql(logForRollups), prepare });
  const finishJobs = statement({ name: "finish-jobs", text: FINISH_JOBS, prepare });
  const locked = <T>(work: (client: pg.PoolClient) => Promise<T>) =>
    inTransaction(pool, async (client) => {
      await client.query(MOVER_LOCK);
      return work(client);
    });

  const moveJobs = (jobIds: number[]) =>
    locked(async (client) => {
      const { rows } = await client.query<{ job_id: number; stored: number }>({ ...moveChunkJobs, values: [jobIds] });
      const stored = rows.map((row) => row.stored);
      // Notifications: job_events' seqs are drawn under this lock, held to the commit.
      await client.query(JOB_EVENTS_LOCK);
      await client.query({ ...finishJobs, values: [rows.map((row) => row.job_id), stored] });
      await notifyFinished(client, jobIds);
      return { jobs: rows.length, rides: stored.reduce((sum, n) => sum + n, 0) };
    });

  return {
    /** Fills the rollups from rides when they are new to a database that already holds rides; true if it did. */
    backfillRollups: async () =>
      (await pool.query<{ needed: boolean }>(ROLLUPS_NEED_FILLING)).rows[0].needed &&
      locked(async (client) => {
        await client.query(FOLDER_LOCK);
        let filled = 0;
        for (const statement of FILL_EMPTY_ROLLUPS) filled += (await client.query(statement, [zone])).rowCount ?? 0;
        return filled > 0;
      }),
    /** Moves the oldest staged chunk; a job the database refuses is failed alone and its neighbours still move. */
    async moveChunk(): Promise<ChunkResult> {
      const { rows } = await pool.query<{ job_id: number; months: string[] }>({ ...nextChunk, values: [chunkRows] });
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
            await client.query(JOB_EVENTS_LOCK);
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
