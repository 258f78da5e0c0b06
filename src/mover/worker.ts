import type { PgBoss } from "pg-boss";
import type pg from "pg";
import { foldJobCounts, markLost } from "../jobs/store.ts";
import type { Mover } from "./move.ts";

export const MOVE_QUEUE = "move-staged-rides";
/** One job keeps moving while data keeps coming, then hands over so no job outlives its expiry. */
const MAX_RUN_MS = 20_000;

/**
 * The pg-boss side of the mover. A `short` queue holds at most one waiting move job,
 * so a wake-up per staged batch costs nothing once one is queued; NOTIFY starts it
 * within milliseconds; a cron job each minute is the backstop for a wake-up lost to a
 * crash. Overlapping move jobs (two processes) are serialised by the mover's lock.
 * afterMove (the rollup folder) runs after each move job, not after each chunk: while
 * rides keep coming the mover has the database to itself, and folding then catches up
 * in bigger, cheaper batches.
 */
export type MoverWorkerOptions = {
  boss: PgBoss;
  pool: pg.Pool;
  mover: Mover;
  ensureJobPartitions: () => Promise<void>;
  onError: (error: unknown) => void;
  /** The jobs a sweep after a PostgreSQL start found lost. */
  onLost: (jobs: number) => void;
  afterMove: () => void;
};

const POSTMASTER_START = "SELECT pg_postmaster_start_time()::text AS started";

export async function startMoverWorker({ boss, pool, mover, ensureJobPartitions, onError, onLost, afterMove }: MoverWorkerOptions) {
  await boss.createQueue(MOVE_QUEUE, {
    policy: "short",
    notify: true,
    retryLimit: 1_000_000,
    retryDelay: 1,
    retryBackoff: true,
    retryDelayMax: 30,
    expireInSeconds: 120,
  });

  let sending = false;
  let again = false;
  // While this process's worker is moving, it looks at staging again before it stops,
  // so a wake-up then needs no pg-boss job (a send per staged batch was most of its SQL).
  let moving = false;
  let stagedWhileMoving = false;
  function wake() {
    if (moving) {
      stagedWhileMoving = true;
      return;
    }
    if (sending) {
      again = true;
      return;
    }
    sending = true;
    boss
      .send(MOVE_QUEUE)
      .catch(onError)
      .finally(() => {
        sending = false;
        if (again) {
          again = false;
          wake();
        }
      });
  }

  // Crash recovery empties UNLOGGED staging: the jobs it held are lost. That can only
  // happen when PostgreSQL starts, so the sweep (a scan of jobs) runs once per start
  // this process sees, never on a read.
  let sweptFor: string | undefined;
  async function sweepLostAfterRestart() {
    const { started } = (await pool.query<{ started: string }>(POSTMASTER_START)).rows[0];
    if (started === sweptFor) return;
    const lost = await markLost(pool);
    if (lost.length > 0) onLost(lost.length);
    sweptFor = started;
  }

  await boss.work(MOVE_QUEUE, { localConcurrency: 1, pollingIntervalSeconds: 2 }, async () => {
    const started = Date.now();
    moving = true;
    try {
      await sweepLostAfterRestart();
      await ensureJobPartitions();
      await foldJobCounts(pool);
      for (;;) {
        stagedWhileMoving = false;
        const chunk = await mover.moveChunk();
        if (chunk.jobs + chunk.failedJobs === 0 && !stagedWhileMoving) return;
        if (Date.now() - started > MAX_RUN_MS) {
          stagedWhileMoving = true;
          return;
        }
      }
    } finally {
      afterMove();
      moving = false;
      if (stagedWhileMoving) wake();
    }
  });
  await boss.schedule(MOVE_QUEUE, "* * * * *");
  // Once at start too, whichever process's worker takes the next move job.
  sweepLostAfterRestart().catch(onError);
  wake();
  return { wake };
}
