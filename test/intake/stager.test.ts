import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../../src/db/client.ts";
import { createStager } from "../../src/intake/stager.ts";
import { createMover } from "../../src/mover/move.ts";
import { createPartitions } from "../../src/mover/partitions.ts";
import { createJobPartitions } from "../../src/jobs/partitions.ts";
import { readRides } from "../../src/rides/index.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride } from "../support/service.ts";

const ZONE = "Asia/Kolkata";
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ travelTypes: true });
});
afterAll(async () => {
  await db?.drop();
});

const read = (rides: Record<string, unknown>[]) => readRides(JSON.stringify(rides), "application/json", ZONE, 10);

// Named (a direct connection) and unnamed (through a transaction pooler), the one statement
// must split a group commit's rides, months, keys and rejections by job the same way.
describe.each([true, false])("one statement stages many jobs (prepare: %s)", (prepare) => {
  it("each job gets its own rides, months, Idempotency-Key and rejections", async () => {
    const base = prepare ? 910_000 : 920_000;
    const stager = createStager({ pool: db.pool, partitionZone: ZONE, idempotencyKeyTtlHours: 24, ensureJobPartitions: createJobPartitions(db.pool, 1_000), onStaged: () => {}, prepare });
    const first = read([ride({ id: base + 1 }), ride({ id: base + 2, from_date: "2013-02-03T10:00:00.000Z", booking_created: "2013-02-03T09:00:00.000Z" })]);
    const second = read([ride({ id: base + 3 }), { ...ride({ id: base + 4 }), user_id: "x" }]);
    const third = read([ride({ id: base + 5 })]);
    expect(second.quarantine.json).not.toBeNull();
    // Sent together: all but the first two wait while those commit, then share one statement.
    const staged = await Promise.all([
      stager.stage(first.accepted, { key: `k-${base}`, hash: "h1" }, first.quarantine.json),
      stager.stage(second.accepted, undefined, second.quarantine.json),
      stager.stage(third.accepted, { key: `k-${base}-3`, hash: "h3" }, third.quarantine.json),
      ...Array.from({ length: 20 }, (_, i) => stager.stage(read([ride({ id: base + 100 + i })]).accepted)),
    ]);
    const ids = staged.map((job) => job.jobId);
    expect(staged.every((job) => job.created)).toBe(true);

    const { rows } = await db.pool.query(
      `SELECT s.job_id, s.ride_count, s.months, ARRAY(SELECT r.id::int FROM unnest(s.rides) r) AS ride_ids,
              (SELECT key FROM idempotency_keys k WHERE k.job_id = s.job_id) AS key,
              ARRAY(SELECT q.ride_index FROM rejections q WHERE q.job_id = s.job_id) AS rejected
       FROM unnest($1::bigint[]) WITH ORDINALITY AS sent(job_id, ord) JOIN staging s USING (job_id) ORDER BY sent.ord`,
      [ids],
    );
    expect(rows.slice(0, 3)).toEqual([
      { job_id: ids[0], ride_count: 2, months: ["2013-01", "2013-02"], ride_ids: [base + 1, base + 2], key: `k-${base}`, rejected: [] },
      { job_id: ids[1], ride_count: 1, months: ["2013-01"], ride_ids: [base + 3], key: null, rejected: [1] },
      { job_id: ids[2], ride_count: 1, months: ["2013-01"], ride_ids: [base + 5], key: `k-${base}-3`, rejected: [] },
    ]);
    expect(rows.slice(3).map((row) => row.ride_ids)).toEqual(Array.from({ length: 20 }, (_, i) => [base + 100 + i]));

    // A stream's frames: their ids in the frames' order.
    const frames = Array.from({ length: 30 }, (_, i) => read([ride({ id: base + 200 + i })]));
    const inOrder = (await stager.stageInOrder(frames.map((frame) => frame.accepted))).map((job) => job.jobId);
    expect(inOrder).toEqual([...inOrder].sort((a, b) => a - b));

    // A key already taken makes no job and stages nothing.
    const again = await stager.stage(third.accepted, { key: `k-${base}-3`, hash: "h3" });
    expect(again.created).toBe(false);
    expect((await db.pool.query("SELECT 1 FROM jobs WHERE id = $1 UNION ALL SELECT 1 FROM staging WHERE job_id = $1", [again.jobId])).rows).toEqual([]);
  });
});

it("a connection that reaches PostgreSQL itself keeps the stage and move statements prepared and, after a few runs, planned once", async () => {
  // One connection, so the statements below run in the session that prepared it.
  const pool = createPool(db.url, { max: 1 });
  try {
    const stager = createStager({ pool, partitionZone: ZONE, idempotencyKeyTtlHours: 24, ensureJobPartitions: createJobPartitions(pool, 1_000), onStaged: () => {}, prepare: true });
    const mover = createMover({ pool, ensurePartitions: createPartitions(pool, ZONE), chunkRows: 1_000, zone: ZONE, prepare: true });
    // The tests above left their jobs staged.
    while ((await mover.moveChunk()).jobs > 0);
    for (let i = 0; i < 10; i++) {
      await stager.stage(read([ride({ id: 930_000 + i })]).accepted);
      expect((await mover.moveChunk()).rides).toBe(1);
    }
    const { rows } = await pool.query("SELECT name, generic_plans >= 5 AS planned_once FROM pg_prepared_statements ORDER BY name");
    expect(rows).toEqual(["finish-jobs", "move-jobs", "next-chunk", "stage-jobs"].map((name) => ({ name, planned_once: true })));
  } finally {
    await pool.end();
  }
});
