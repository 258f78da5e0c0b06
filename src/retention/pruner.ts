import type pg from "pg";
import type { Logger } from "../observability/logger.ts";
import {
  deleteExpiredJobs,
  detachJobPartition,
  dropDetachedJobs,
  expireIdempotencyKeys,
  foldJobCounts,
  oldestKeptJobId,
  partitionAgeOf,
  sweepFailedPayloads,
  sweepRejections,
} from "../jobs/store.ts";
import { type JobPartition, jobPartitions, nextJobId } from "../jobs/partitions.ts";
import { inTransaction } from "../db/client.ts";
import { dropRidesMonth, keepRidesFrom, monthsBefore, monthStart, ridesMonthsBefore } from "../mover/partitions.ts";
import { monthIn } from "../rides/time.ts";

/** Rows one pruning statement deletes at most: each commits in well under a second and holds no lock intake or mover wait on. */
export const PRUNE_BATCH_ROWS = 10_000;
/** Kept payloads of failed jobs one statement deletes at most: each may hold a whole request's rides. */
const PRUNE_BATCH_PAYLOADS = 10;
/** Statements one prune runs at most; what is left waits for the next one. */
const MAX_STEPS_PER_PRUNE = 1_000;
/** The first prune after start waits this long, so it does not compete with the start itself. */
export const FIRST_PRUNE_DELAY_MS = 10_000;

export type PruneReport = {
  jobs: number;
  idempotencyKeys: number;
  /** Quarantined rides and failed jobs' kept payloads of the jobs pruned, deleted after them. */
  rejections: number;
  failedPayloads: number;
  jobPartitions: number;
  ridesPartitions: number;
  oldestKeptJobId: number | null;
  ms: number;
  skipped?: "another process is pruning";
};

export type PrunerOptions = {
  pool: pg.Pool;
  jobsRetentionDays: number;
  idempotencyKeyTtlHours: number;
  /** RIDES_RETENTION_MONTHS; unset keeps every month of rides. */
  ridesRetentionMonths?: number;
  /** RIDES_TIME_ZONE: the clock months are cut on. */
  zone: string;
  intervalMs: number;
  log: Logger;
  onPruned: (report: PruneReport) => void;
  onScheduled: (at: Date) => void;
};

/**
 * Drops finished jobs past JOBS_RETENTION_DAYS (whole partitions, or bounded deletes in
 * a partition that still holds a queued job) and Idempotency-Keys past their TTL,
 * shortly after start and then every intervalMs. One process prunes at a time (a
 * session advisory lock, released if the process dies).
 */
export function createPruner(options: PrunerOptions) {
  const { pool, jobsRetentionDays, idempotencyKeyTtlHours, ridesRetentionMonths, zone, intervalMs, log } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;

  async function dropPartition(partition: JobPartition): Promise<number> {
    if (partition.attached) await detachJobPartition(pool, partition.name, partition.detachPending);
    else if (partition.detachPending) await detachJobPartition(pool, partition.name, true);
    return inTransaction(pool, (client) => dropDetachedJobs(client, partition));
  }

  async function pruneJobs(report: PruneReport, steps: { left: number }) {
    const partitions = await jobPartitions(pool);
    const next = await nextJobId(pool);
    for (const partition of partitions) {
      if (steps.left <= 0 || stopped) return;
      // Left detached (or half detached) by a prune that was killed: finish it.
      if (!partition.attached || partition.detachPending) {
        report.jobs += await dropPartition({ ...partition, attached: false });
        report.jobPartitions++;
        steps.left--;
        continue;
      }
      // The partition new jobs go to, and the empty ones kept ready after it.
      if (partition.to > next) return;
      const age = await partitionAgeOf(pool, partition.name, jobsRetentionDays);
      // Ids follow time: once one partition is within retention, so are the ones after it.
      if (age.expired === false) return;
      if (!age.queued) {
        report.jobs += await dropPartition(partition);
        report.jobPartitions++;
        steps.left--;
        continue;
      }
      for (;;) {
        const deleted = await deleteExpiredJobs(pool, { from: partition.from, to: partition.to, retentionDays: jobsRetentionDays, limit: PRUNE_BATCH_ROWS });
        report.jobs += deleted;
        steps.left--;
        if (deleted < PRUNE_BATCH_ROWS || steps.left <= 0 || stopped) break;
      }
    }
  }

  async function pruneKeys(report: PruneReport, steps: { left: number }) {
    // A key never outlives its job: with retention shorter than the TTL, keys go with the jobs.
    const ttlHours = Math.min(idempotencyKeyTtlHours, jobsRetentionDays * 24);
    while (steps.left > 0 && !stopped) {
      const deleted = await expireIdempotencyKeys(pool, ttlHours, PRUNE_BATCH_ROWS);
      report.idempotencyKeys += deleted;
      steps.left--;
      if (deleted < PRUNE_BATCH_ROWS) return;
    }
  }

  // After the jobs: a rejection or payload goes only once its job is gone.
  async function pruneOrphans(report: PruneReport, steps: { left: number }) {
    for (const [sweep, limit, counted] of [
      [sweepRejections, PRUNE_BATCH_ROWS, "rejections"],
      [sweepFailedPayloads, PRUNE_BATCH_PAYLOADS, "failedPayloads"],
    ] as const) {
      while (steps.left > 0 && !stopped) {
        const deleted = await sweep(pool, limit);
        report[counted] += deleted;
        steps.left--;
        if (deleted < limit) break;
      }
    }
  }

  // Rides before the current month's RIDES_RETENTION_MONTHS predecessors: refused from
  // now on first, then their months dropped whole. The rollups keep them.
  async function pruneRides(report: PruneReport, steps: { left: number }) {
    if (ridesRetentionMonths === undefined) return;
    const oldestKept = monthsBefore(monthIn(Date.now(), zone), ridesRetentionMonths);
    await keepRidesFrom(pool, monthStart(oldestKept, zone));
    for (const month of await ridesMonthsBefore(pool, oldestKept)) {
      if (steps.left <= 0 || stopped) return;
      await dropRidesMonth(pool, month);
      report.ridesPartitions++;
      steps.left--;
    }
  }

  /** One prune, now; waits for one already running in this process. */
  async function prune(): Promise<PruneReport> {
    const run = running.then(async () => {
      const started = performance.now();
      const report: PruneReport = { jobs: 0, idempotencyKeys: 0, rejections: 0, failedPayloads: 0, jobPartitions: 0, ridesPartitions: 0, oldestKeptJobId: null, ms: 0 };
      const lock = await pool.connect();
      try {
        const { rows } = await lock.query<{ locked: boolean }>("SELECT pg_try_advisory_lock(hashtext('rides-pruner')) AS locked");
        if (!rows[0].locked) return { ...report, skipped: "another process is pruning" as const };
        try {
          const steps = { left: MAX_STEPS_PER_PRUNE };
          await pruneJobs(report, steps);
          await pruneOrphans(report, steps);
          await pruneKeys(report, steps);
          await pruneRides(report, steps);
          await foldJobCounts(pool);
          report.oldestKeptJobId = await oldestKeptJobId(pool);
          report.ms = Math.round(performance.now() - started);
        } finally {
          await lock.query("SELECT pg_advisory_unlock(hashtext('rides-pruner'))");
        }
      } finally {
        lock.release();
      }
      options.onPruned(report);
      log.info(report, "pruned jobs and Idempotency-Keys past retention");
      return report;
    });
    running = run.catch(() => {});
    return run;
  }

  function schedule(delayMs: number) {
    if (stopped) return;
    options.onScheduled(new Date(Date.now() + delayMs));
    timer = setTimeout(() => {
      prune()
        .catch((error) => log.warn({ error: (error as Error).message }, "could not prune; trying again at the next prune"))
        .finally(() => schedule(intervalMs));
    }, delayMs);
    timer.unref();
  }

  return {
    prune,
    start(firstDelayMs = FIRST_PRUNE_DELAY_MS) {
      schedule(firstDelayMs);
    },
    /** Stops the schedule; a prune in flight stops after its current statement. */
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

export type Pruner = ReturnType<typeof createPruner>;
