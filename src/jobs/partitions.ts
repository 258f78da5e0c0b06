import type pg from "pg";
import { inTransaction } from "../db/client.ts";
import { prunedBelow } from "./store.ts";

/** A jobs partition: ids in [from, to); `attached` is false for one a crash left detached. */
export type JobPartition = { name: string; from: number; to: number; attached: boolean; detachPending: boolean };

/** Storage for every jobs partition: room on each page for the one HOT update a job gets, and autovacuum by its own size. */
export const JOB_PARTITION_STORAGE =
  "fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02";
/** Partitions kept ready beyond the newest id, so a burst of jobs never waits for DDL. */
const PARTITIONS_AHEAD = 2;
const PARTITION_NAME = /^jobs_(\d+)_(\d+)$/;

// Attached ones from pg_inherits, and tables named like a partition that are not (or not
// any more) attached: a prune that was killed between detaching and dropping.
const PARTITIONS = `
SELECT c.relname AS name, i.inhrelid IS NOT NULL AS attached, coalesce(i.inhdetachpending, false) AS "detachPending"
FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = 'jobs'::regclass
WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace AND c.relname ~ '^jobs_[0-9]+_[0-9]+$'
ORDER BY c.relname`;

/** Every jobs partition, oldest ids first. */
export async function jobPartitions(db: pg.Pool | pg.PoolClient): Promise<JobPartition[]> {
  const { rows } = await db.query<{ name: string; attached: boolean; detachPending: boolean }>(PARTITIONS);
  return rows
    .map((row) => {
      const [, from, to] = PARTITION_NAME.exec(row.name)!;
      return { ...row, from: Number(from), to: Number(to) };
    })
    .sort((a, b) => a.from - b.from);
}

// Created standalone and then attached: ATTACH needs only SHARE UPDATE EXCLUSIVE on jobs,
// which intake and mover never wait on (CREATE TABLE ... PARTITION OF would take ACCESS
// EXCLUSIVE), and checking the bounds of an empty table is instant.
const createPartition = (from: number, to: number) => [
  `CREATE TABLE IF NOT EXISTS jobs_${from}_${to} (LIKE jobs INCLUDING DEFAULTS INCLUDING CONSTRAINTS) WITH (${JOB_PARTITION_STORAGE})`,
  `ALTER TABLE jobs ATTACH PARTITION jobs_${from}_${to} FOR VALUES FROM (${from}) TO (${to})`,
];

const NEXT_ID = "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS id FROM jobs_id_seq";

/** The id the next job will get (about: other sessions may be drawing ids now). */
export async function nextJobId(pool: pg.Pool): Promise<number> {
  return (await pool.query<{ id: number }>(NEXT_ID)).rows[0].id;
}

/**
 * Keeps partitions of `size` ids ready up to PARTITIONS_AHEAD beyond the next job id.
 * Runs at start, on the mover's schedule and when an insert finds no partition; the
 * advisory lock keeps two processes from adding the same one.
 */
export function createJobPartitions(pool: pg.Pool, size: number) {
  let readyBelow = 0;
  return async function ensure(): Promise<void> {
    const next = await nextJobId(pool);
    if (next + PARTITIONS_AHEAD * size <= readyBelow) return;
    readyBelow = await inTransaction(pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('jobs-partitions'))");
      const attached = (await jobPartitions(client)).filter((p) => p.attached);
      // A prune drops every partition once all their ids are drawn and all their jobs are
      // past retention: the next ones start where those ended, not at id 1 (a partition
      // for every JOBS_PARTITION_SIZE ids since, one ATTACH each).
      let upper = Math.max(1, await prunedBelow(client), ...attached.map((p) => p.to));
      while (upper < next + PARTITIONS_AHEAD * size) {
        for (const statement of createPartition(upper, upper + size)) await client.query(statement);
        upper += size;
      }
      return upper;
    });
  };
}

export type EnsureJobPartitions = ReturnType<typeof createJobPartitions>;
