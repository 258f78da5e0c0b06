import { afterAll, beforeAll, expect, it } from "vitest";
import { createMover, type Mover } from "../../src/mover/move.ts";
import { createPartitions } from "../../src/mover/partitions.ts";
import { createFolder, type Folder } from "../../src/rollup/folder.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { pendingRollupChanges } from "../../src/observability/database-stats.ts";
import { rollupsAndRides } from "../support/rollups.ts";
import { ride } from "../support/service.ts";

const ZONE = "Asia/Kolkata";
let db: TestDatabase;
let mover: Mover;
let folder: Folder;

beforeAll(async () => {
  db = await createTestDatabase();
  mover = createMover({ pool: db.pool, ensurePartitions: createPartitions(db.pool, ZONE), chunkRows: 1_000, zone: ZONE, prepare: true });
  folder = createFolder(db.pool, ZONE, (error) => {
    throw error;
  });
});
afterAll(async () => {
  await db?.drop();
});

/** Stages one job and moves everything staged, as the service's worker would, but with no folder running. */
async function move(rides: Record<string, unknown>[]) {
  await db.pool.query(
    `WITH j AS (INSERT INTO jobs (accepted) VALUES ($1) RETURNING id)
     INSERT INTO staging (job_id, ride_count, months, rides) SELECT id, $1, $2, ARRAY(SELECT r FROM json_populate_recordset(null::staged_ride, $3::json) r) FROM j`,
    [rides.length, ["2013-01", "2013-02", "2013-03"], JSON.stringify(rides)],
  );
  while ((await mover.moveChunk()).jobs > 0);
}

const pending = () => pendingRollupChanges(db.pool);
const rollupsNow = () => rollupsAndRides(db.pool, ZONE);

const rides = Array.from({ length: 60 }, (_, i) =>
  ride({
    id: 100 + i,
    travel_type_id: 1 + (i % 3),
    vehicle_model_id: [12, 24, 28][i % 3],
    from_area_id: i % 4 === 0 ? null : 80 + (i % 5),
    car_cancellation: i % 7 === 0,
    from_date: new Date(Date.parse("2013-01-01T00:00:00+05:30") + i * 25 * 3_600_000).toISOString(),
    booking_created: new Date(Date.parse("2013-01-01T00:00:00+05:30") + i * 25 * 3_600_000 - (i + 1) * 60_000).toISOString(),
    to_lat: i % 6 === 0 ? null : 12.93 + i / 1000,
  }),
);

it("leaves the rollups alone while moving, and folding the log makes them equal to rides", async () => {
  await move(rides);
  expect(await pending()).toBe(60);
  for (const { held } of await rollupsNow()) expect(held).toEqual([]);

  expect(await folder.foldAll()).toBe(60);
  expect(await pending()).toBe(0);
  for (const { table, held, fromRides } of await rollupsNow()) {
    expect(held.length, table).toBeGreaterThan(0);
    expect(held, table).toEqual(fromRides);
  }
});

it("takes back what a resend replaces, in the same month and across months", async () => {
  const resent = rides.slice(0, 30).map((r, i) => ({
    ...r,
    car_cancellation: !r.car_cancellation,
    // Every third one moves to another month (by 40 days).
    ...(i % 3 === 0
      ? {
          from_date: new Date(Date.parse(r.from_date as string) + 40 * 86_400_000).toISOString(),
          booking_created: new Date(Date.parse(r.booking_created as string) + 40 * 86_400_000).toISOString(),
        }
      : {}),
  }));
  await move(resent);
  // Each resent ride adds its new copy and takes its old one back.
  expect(await pending()).toBe(60);
  await folder.foldAll();
  for (const { table, held, fromRides } of await rollupsNow()) expect(held, table).toEqual(fromRides);
  expect((await db.pool.query("SELECT count(*)::int AS n FROM rides")).rows[0].n).toBe(60);
});

it("refills an emptied rollup from rides without counting the changes still in the log twice", async () => {
  await move(rides.slice(30).map((r) => ({ ...r, vehicle_model_id: 85 })));
  expect(await pending()).toBe(60);
  await db.pool.query("TRUNCATE rides_daily_by_model, rides_monthly_by_area");
  expect(await mover.backfillRollups()).toBe(true);
  expect(await mover.backfillRollups()).toBe(false);
  await folder.foldAll();
  for (const { table, held, fromRides } of await rollupsNow()) expect(held, table).toEqual(fromRides);
});

it("folds wake-ups that come while it folds in one more pass", async () => {
  await move(rides.map((r) => ({ ...r, package_id: 3 })));
  folder.wake();
  folder.wake();
  folder.wake();
  await folder.settled();
  expect(await pending()).toBe(0);
  for (const { table, held, fromRides } of await rollupsNow()) expect(held, table).toEqual(fromRides);
});
