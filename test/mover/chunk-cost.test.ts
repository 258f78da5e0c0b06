import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { moveJobsSql } from "../../src/jobs/store.ts";
import { createMover } from "../../src/mover/move.ts";
import { createPartitions } from "../../src/mover/partitions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride } from "../support/service.ts";

const ZONE = "Asia/Kolkata";
/** The largest id a ride may have (Number.MAX_SAFE_INTEGER): a hostile producer's favourite. */
const MAX_ID = 9007199254740991;
const STORED = 60_000;
const CHUNK_JOBS = 2_000;

let db: TestDatabase;

// A database of its own without a service, so no mover moves the staged chunk under the test.
beforeAll(async () => {
  db = await createTestDatabase();
  await createPartitions(db.pool, ZONE)(["2013-01", "2013-02"]);
  // The planner's guesses without statistics are part of what is tested; autovacuum must not gather them meanwhile.
  for (const partition of ["rides_2013_01", "rides_2013_02"]) await db.pool.query(`ALTER TABLE ${partition} SET (autovacuum_enabled = off)`);
  await db.pool.query(
    `INSERT INTO rides (id, user_id, vehicle_model_id, travel_type_id, from_date, online_booking, mobile_site_booking, booking_created, car_cancellation, job_id)
     SELECT g, 1, 12, 2, timestamptz '2013-01-01 00:00Z' + g * interval '1 minute', false, false, timestamptz '2013-01-01 00:00Z', false, 0
     FROM generate_series(1, $1::int) g`,
    [STORED],
  );
}, 120_000);
afterAll(async () => {
  await db?.drop();
});

/** Jobs of January rides staged as the intake stages them, in this order; their ids. */
async function stageJobs(jobs: Record<string, unknown>[][]): Promise<number[]> {
  const { rows } = await db.pool.query<{ job_id: number }>(
    `WITH j AS (INSERT INTO jobs (accepted) SELECT json_array_length(rides) FROM unnest($1::json[]) WITH ORDINALITY AS r(rides, n) ORDER BY n RETURNING id),
          numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM j)
     INSERT INTO staging (job_id, ride_count, months, rides)
     SELECT id, json_array_length(rides), '{2013-01}', ARRAY(SELECT s FROM json_populate_recordset(null::staged_ride, rides) s) FROM numbered JOIN unnest($1::json[]) WITH ORDINALITY AS r(rides, n) USING (n)
     RETURNING job_id`,
    [jobs.map((rides) => JSON.stringify(rides))],
  );
  return rows.map((row) => row.job_id).sort((a, b) => a - b);
}

/** Single-ride jobs holding fresh ids above every stored one but MAX_ID. */
const stageSingleRideJobs = (firstId: number) =>
  stageJobs(Array.from({ length: CHUNK_JOBS }, (_, i) => [ride({ id: firstId + i, from_date: "2013-01-20T10:00:00.000Z", booking_created: "2013-01-20T09:00:00.000Z" })]));

type PlanNode = { "Relation Name"?: string; "Actual Rows": number; "Actual Loops": number; "Rows Removed by Filter"?: number; Plans?: PlanNode[] };

/** Rows the plan read from rides' partitions: what it returned plus what its filters threw away. */
function ridesRowsRead(node: PlanNode): number {
  const own = /^rides_\d{4}_\d{2}$/.test(node["Relation Name"] ?? "")
    ? (node["Actual Rows"] + (node["Rows Removed by Filter"] ?? 0)) * node["Actual Loops"]
    : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + ridesRowsRead(child), 0);
}

/** The mover's statement for these jobs, run (EXPLAIN ANALYZE) and rolled back. */
async function explainMove(jobIds: number[]): Promise<PlanNode> {
  const client = await db.pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${moveJobsSql(true)}`, [jobIds]);
    return rows[0]["QUERY PLAN"][0].Plan;
  } finally {
    await client.query("ROLLBACK");
    client.release();
  }
}

describe("a ride with the largest id among many stored rides", () => {
  it("leaves every later chunk reading no more of rides than the chunk's own ids, with or without statistics", async () => {
    await db.pool.query(
      `INSERT INTO rides (id, user_id, vehicle_model_id, travel_type_id, from_date, online_booking, mobile_site_booking, booking_created, car_cancellation, job_id)
       VALUES ($1, 1, 12, 2, '2013-02-10 00:00Z', false, false, '2013-02-09 00:00Z', false, 0)`,
      [MAX_ID],
    );
    const jobIds = await stageSingleRideJobs(STORED + 1);
    // Without statistics (autovacuum off, or not yet round to a new partition) the planner
    // hashed every stored row to find the chunk's few.
    expect(ridesRowsRead(await explainMove(jobIds))).toBeLessThanOrEqual(CHUNK_JOBS);
    await db.pool.query("ANALYZE rides, staging, jobs");
    expect(ridesRowsRead(await explainMove(jobIds))).toBeLessThanOrEqual(CHUNK_JOBS);
  });

  it("still keeps one row when a resend moves that ride to another month", async () => {
    const [resent] = await stageJobs([[ride({ id: MAX_ID, from_date: "2013-01-25T10:00:00.000Z", booking_created: "2013-01-25T09:00:00.000Z" })]]);
    const mover = createMover({ pool: db.pool, ensurePartitions: createPartitions(db.pool, ZONE), chunkRows: CHUNK_JOBS + 1, zone: ZONE, prepare: true });
    while ((await mover.moveChunk()).jobs > 0);
    const { rows } = await db.pool.query("SELECT tableoid::regclass::text AS partition, job_id FROM rides WHERE id = $1", [MAX_ID]);
    expect(rows).toEqual([{ partition: "rides_2013_01", job_id: resent }]);
    expect((await db.pool.query("SELECT count(*)::int AS n FROM rides")).rows[0].n).toBe(STORED + CHUNK_JOBS + 1);
  });
});
