import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createStager, type Stager } from "../../src/intake/stager.ts";
import { createJobPartitions } from "../../src/jobs/partitions.ts";
import { retryJob } from "../../src/jobs/retry.ts";
import { foldJobCounts, jobCounts, markLost } from "../../src/jobs/store.ts";
import { createMover, type Mover } from "../../src/mover/move.ts";
import { createPartitions } from "../../src/mover/partitions.ts";
import type { Pruner } from "../../src/retention/pruner.ts";
import { readRides } from "../../src/rides/index.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createTestPruner } from "../support/pruner.ts";
import { ride } from "../support/service.ts";

const ZONE = "Asia/Kolkata";
/** Rides of this user pass validation and are refused by the database: their job fails. */
const POISON_USER = 66_666;

let db: TestDatabase;
let stager: Stager;
let mover: Mover;
let pruner: Pruner;
let nextRideId = 880_000;

beforeAll(async () => {
  db = await createTestDatabase({ travelTypes: true });
  await db.pool.query(`ALTER TABLE rides ADD CONSTRAINT refuse_poison CHECK (user_id <> ${POISON_USER})`);
  // Small partitions after the migration's first one, so prunes drop whole partitions too.
  await db.pool.query("SELECT setval('jobs_id_seq', 1000000)");
  const ensureJobPartitions = createJobPartitions(db.pool, 4);
  await ensureJobPartitions();
  stager = createStager({ pool: db.pool, partitionZone: ZONE, idempotencyKeyTtlHours: 24, ensureJobPartitions, onStaged: () => {}, prepare: true });
  mover = createMover({ pool: db.pool, ensurePartitions: createPartitions(db.pool, ZONE), chunkRows: 3, zone: ZONE, prepare: true });
  pruner = createTestPruner(db.pool, 30);
});
afterAll(async () => {
  await db?.drop();
});

const stage = (userId = 17) => {
  const { accepted } = readRides(JSON.stringify([ride({ id: nextRideId++, user_id: userId })]), "application/json", ZONE, 10);
  return stager.stage(accepted, { key: `key-${nextRideId}`, hash: "h" });
};

const OPERATIONS = {
  stage: () => stage(),
  stageRefused: () => stage(POISON_USER),
  stageMany: () => Promise.all([stage(), stage(), stage()]),
  move: () => mover.moveChunk(),
  // The oldest job with kept rides is staged again (the poison still refuses it, so it fails again).
  retry: async () => {
    const { rows } = await db.pool.query<{ job_id: number }>("SELECT job_id FROM failed_payloads ORDER BY job_id LIMIT 1");
    if (rows[0]) await retryJob(db.pool, rows[0].job_id);
  },
  // Crash recovery emptying staging under the oldest queued job, then the sweep.
  lose: async () => {
    await db.pool.query("DELETE FROM staging WHERE job_id = (SELECT min(job_id) FROM staging)");
    await markLost(db.pool);
  },
  // Time passes for every finished job; queued ones are old too, and must stay.
  prune: async () => {
    await db.pool.query("UPDATE jobs SET received_at = now() - interval '40 days' WHERE status <> 'queued' OR id % 2 = 0");
    await pruner.prune();
  },
  fold: () => foldJobCounts(db.pool),
};

/** An operation this slow is stuck: the whole property takes seconds. */
const STUCK_MS = 20_000;

/** Who waits on whom in this test's database, from a connection of its own (the pool may be what is stuck). */
async function waits(): Promise<string> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows } = await client.query(`
      SELECT a.pid, a.state, a.wait_event_type, a.wait_event, pg_blocking_pids(a.pid) AS blocked_by,
             now() - a.xact_start AS in_transaction, left(a.query, 120) AS query,
             (SELECT json_agg(l.locktype || ' ' || coalesce(l.relation::regclass::text, l.virtualxid, '') || ' ' || l.mode)
              FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted) AS waiting_for
      FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()`);
    return JSON.stringify(rows, null, 1);
  } finally {
    await client.end();
  }
}

/**
 * Runs one operation; one stuck past STUCK_MS prints what its database waits on and
 * keeps waiting. This property hung past its timeout in about one full-suite run in
 * eight, on a prune, and did not in about 5,400 runs of it (200 times its 25) alone and beside full suites
 * on PostgreSQL 15 and 18: the next stall names its blocker. One cause has been found and fixed since: a
 * prune that dropped every partition made the next stage add 4-id partitions from id 1 up to the next id,
 * one ATTACH each (test/jobs/partitions.test.ts).
 */
async function watched(name: string, operation: () => Promise<unknown>): Promise<void> {
  const timer = setTimeout(() => {
    waits().then(
      (dump) => console.error(`${name} stuck for ${STUCK_MS} ms; the database's sessions:\n${dump}`),
      (error) => console.error(`${name} stuck for ${STUCK_MS} ms; could not read pg_stat_activity: ${error}`),
    );
  }, STUCK_MS);
  try {
    await operation();
  } finally {
    clearTimeout(timer);
  }
}

// One retry while the stall's cause is unknown (see watched).
it("keeps the per-status counters equal to count(*) through any mix of stage, move, fail, retry, lose and prune", { timeout: 120_000, retry: 1 }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.constantFrom(...(Object.keys(OPERATIONS) as (keyof typeof OPERATIONS)[])), { minLength: 1, maxLength: 25 }), async (operations) => {
      for (const operation of operations) {
        const queuedBefore = (await db.pool.query<{ id: number }>("SELECT id FROM jobs WHERE status = 'queued'")).rows.map((r) => r.id);
        await watched(operation, OPERATIONS[operation]);
        const { rows } = await db.pool.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM jobs GROUP BY status");
        expect(await jobCounts(db.pool)).toEqual({ queued: 0, done: 0, failed: 0, lost: 0, ...Object.fromEntries(rows.map((r) => [r.status, r.n])) });
        if (operation === "prune") {
          const kept = await db.pool.query<{ id: number }>("SELECT id FROM jobs WHERE id = ANY($1) AND status = 'queued'", [queuedBefore]);
          expect(kept.rows.map((r) => r.id).sort()).toEqual([...queuedBefore].sort());
        }
      }
      const failures = await db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM jobs j FULL JOIN job_failures f ON f.job_id = j.id WHERE (j.status IN ('failed', 'lost')) IS DISTINCT FROM (f.job_id IS NOT NULL)",
      );
      expect(failures.rows[0].n).toBe(0);
      // A failed job keeps its rides until a retry stores them, and not longer.
      const kept = await db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM jobs j LEFT JOIN failed_payloads p ON p.job_id = j.id WHERE (j.status = 'failed' AND p.job_id IS NULL) OR (j.status = 'done' AND p.job_id IS NOT NULL)",
      );
      expect(kept.rows[0].n).toBe(0);
    }),
    { numRuns: 25 },
  );
});
