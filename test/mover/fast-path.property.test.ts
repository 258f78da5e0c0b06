import fc from "fast-check";
import type pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { moveJobsSql, stagedRideItems } from "../../src/jobs/store.ts";
import { RIDE_FIELDS, type Ride } from "../../src/rides/index.ts";
import { createPartitions } from "../../src/mover/partitions.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride } from "../support/service.ts";

const ZONE = "Asia/Kolkata";
const MAX_ID = Number.MAX_SAFE_INTEGER;

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await createPartitions(db.pool, ZONE)(["2013-01", "2013-02"]);
});
afterAll(async () => {
  await db?.drop();
});

/** A ride in January or February, its user telling its copies apart. */
const rideArbitrary = (ids: fc.Arbitrary<number>) =>
  fc.record({ id: ids, february: fc.boolean(), day: fc.integer({ min: 1, max: 27 }), user: fc.integer({ min: 1, max: 1_000 }) }).map((r) => {
    const date = `2013-${r.february ? "02" : "01"}-${String(r.day).padStart(2, "0")}`;
    return ride({ id: r.id, user_id: r.user, from_date: `${date}T10:00:00.000Z`, booking_created: `${date}T09:00:00.000Z` });
  });

// Ids in two bands, so a chunk lies above every stored ride, overlaps them, or straddles both.
const STORED_IDS = fc.integer({ min: 1, max: 30 });
const CHUNK_IDS = fc.oneof(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 31, max: 60 }), fc.integer({ min: 31, max: 60 }));

const RIDE_COLUMNS = `tableoid::regclass::text AS partition, id, user_id, vehicle_model_id, package_id, travel_type_id, from_area_id, to_area_id,
  from_city_id, to_city_id, from_date, to_date, online_booking, mobile_site_booking, booking_created, from_lat, from_long, to_lat, to_long,
  car_cancellation, job_id, stored_at`;

/** What one move statement leaves behind: its answer, rides and the rollup log. */
async function moveAndRead(client: pg.PoolClient, jobIds: number[], fastPath: boolean) {
  const answer = (await client.query(moveJobsSql(true, { fastPath }), [jobIds])).rows.sort((a, b) => a.job_id - b.job_id);
  const rides = (await client.query(`SELECT ${RIDE_COLUMNS} FROM rides ORDER BY id, from_date`)).rows;
  const log = (await client.query("SELECT * FROM rollup_log ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15")).rows;
  const staged = (await client.query("SELECT count(*)::int AS n FROM staging")).rows[0].n;
  return { answer, rides, log, staged };
}

it("moves any chunk to the same rides, rollup log and counts with or without the fast path for new ids", { timeout: 120_000 }, async () => {
  let fastPathTaken = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(rideArbitrary(STORED_IDS), { maxLength: 12 }),
      fc.boolean(),
      fc.array(fc.array(rideArbitrary(CHUNK_IDS), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 }),
      async (stored, hostile, jobs) => {
        const client = await db.pool.connect();
        try {
          await client.query("BEGIN");
          // One copy per id, as rides holds them.
          const kept = [...new Map(stored.map((r) => [r.id, r])).values()];
          if (hostile) kept.push(ride({ id: MAX_ID, from_date: "2013-02-10T10:00:00.000Z", booking_created: "2013-02-10T09:00:00.000Z" }));
          await client.query(
            "INSERT INTO rides SELECT * FROM json_populate_recordset(null::rides, $1::json)",
            [JSON.stringify(kept.map((r) => ({ ...r, job_id: 0, stored_at: "2000-01-01T00:00:00Z" })))],
          );
          const jobIds = jobs.map((_, i) => 1_000 + i);
          await client.query(
            `INSERT INTO staging (job_id, ride_count, months, rides)
             SELECT 1000 + n - 1, json_array_length(rides), '{2013-01,2013-02}', ARRAY(SELECT s FROM json_populate_recordset(null::staged_ride, rides) s) FROM unnest($1::json[]) WITH ORDINALITY AS r(rides, n)`,
            [jobs.map((rides) => JSON.stringify(rides))],
          );
          const ids = jobs.flat().map((r) => r.id as number);
          const [low, high] = [Math.min(...ids), Math.max(...ids)];
          if (!kept.some((r) => (r.id as number) >= low && (r.id as number) <= high)) fastPathTaken++;

          await client.query("SAVEPOINT before_move");
          const fast = await moveAndRead(client, jobIds, true);
          await client.query("ROLLBACK TO SAVEPOINT before_move");
          const general = await moveAndRead(client, jobIds, false);
          expect(fast).toEqual(general);
          expect(fast.staged).toBe(0);
        } finally {
          await client.query("ROLLBACK");
          client.release();
        }
      },
    ),
    { numRuns: 150 },
  );
  // The property means little unless both paths ran often.
  expect(fastPathTaken).toBeGreaterThan(20);
  expect(fastPathTaken).toBeLessThan(140);
});

it("stages rides as staged_ride rows that read back field for field, in the order of RIDE_FIELDS", async () => {
  const { rows: attributes } = await db.pool.query(
    "SELECT attname FROM pg_attribute WHERE attrelid = 'staged_ride'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
  );
  expect(attributes.map((a) => a.attname)).toEqual([...RIDE_FIELDS]);
  const sent = [
    ride({ id: MAX_ID, from_date: "2013-01-05T10:00:00.000Z", booking_created: "2013-01-05T09:00:00.000Z", from_lat: 1e-7, to_long: -180 }),
    ride({ id: 2, package_id: 4, to_date: "2013-01-05T11:00:00.000Z", from_date: "2013-01-05T10:00:00.000Z", booking_created: "2013-01-05T09:00:00.000Z", from_lat: null, online_booking: true, car_cancellation: true }),
  ] as unknown as Ride[];
  const { rows } = await db.pool.query(`SELECT to_json(r) AS ride FROM unnest($1::staged_ride[]) r`, [`{${stagedRideItems(sent)}}`]);
  const iso = (value: unknown) => (typeof value === "string" ? new Date(value).toISOString() : value);
  expect(rows.map(({ ride: r }) => ({ ...r, id: Number(r.id), from_date: iso(r.from_date), to_date: iso(r.to_date), booking_created: iso(r.booking_created) }))).toEqual(sent);
});
