import { afterAll, beforeAll, expect, it } from "vitest";
import { applyMigrations } from "../../src/db/migrate.ts";
import { jobCounts } from "../../src/jobs/store.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride } from "../support/service.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

it("types the rides staged before migration 0013, and fails, counted, a job whose rides could never be moved", async () => {
  // Back to staging as it was before 0013 (json), with 0013 not yet applied.
  await db.pool.query(`
    ALTER TABLE staging DROP COLUMN rides;
    ALTER TABLE staging ADD COLUMN rides json NOT NULL;
    ALTER TABLE failed_payloads DROP COLUMN rides;
    ALTER TABLE failed_payloads ADD COLUMN rides json NOT NULL;
    DROP TYPE staged_ride;
    DELETE FROM drizzle.__drizzle_migrations WHERE created_at = (SELECT max(created_at) FROM drizzle.__drizzle_migrations)`);
  const at = { from_date: "2013-01-02T10:00:00.000Z", booking_created: "2013-01-02T09:00:00.000Z" };
  const staged = [[ride({ id: 61, ...at }), ride({ id: 62, ...at })], [ride({ id: 63, ...at, from_lat: "north" })]];
  const { rows: jobs } = await db.pool.query<{ id: number }>(
    "INSERT INTO jobs (accepted) SELECT json_array_length(r) FROM unnest($1::json[]) WITH ORDINALITY AS s(r, n) ORDER BY n RETURNING id",
    [staged.map((rides) => JSON.stringify(rides))],
  );
  await db.pool.query("INSERT INTO job_counts (status, jobs) VALUES ('queued', 2)");
  await db.pool.query(
    "INSERT INTO staging (job_id, ride_count, months, rides) SELECT id, json_array_length(r), '{2013-01}', r FROM unnest($1::bigint[], $2::json[]) AS s(id, r)",
    [jobs.map((job) => job.id), staged.map((rides) => JSON.stringify(rides))],
  );

  // A failed job's kept rides (migration 0010) are typed too, so a retry can stage them again.
  await db.pool.query("INSERT INTO failed_payloads (job_id, ride_count, months, rides) VALUES (999999, 1, '{2013-01}', $1::json)", [
    JSON.stringify([ride({ id: 64, ...at })]),
  ]);

  await applyMigrations(db.url, "unlogged");

  const { rows: kept } = await db.pool.query("SELECT (rides[1]).id, (rides[1]).from_date FROM failed_payloads WHERE job_id = 999999");
  expect(kept).toEqual([{ id: 64, from_date: new Date(at.from_date) }]);

  const { rows: typed } = await db.pool.query("SELECT job_id, r.id, r.from_lat FROM staging, unnest(rides) WITH ORDINALITY AS r ORDER BY ordinality");
  expect(typed).toEqual([
    { job_id: jobs[0].id, id: 61, from_lat: 12.92415 },
    { job_id: jobs[0].id, id: 62, from_lat: 12.92415 },
  ]);
  const { rows: failed } = await db.pool.query("SELECT status, failed, error FROM jobs WHERE id = $1", [jobs[1].id]);
  expect(failed[0]).toMatchObject({ status: "failed", failed: 1, error: expect.stringMatching(/^the database refused the rides: invalid input syntax for type double precision/) });
  expect((await db.pool.query("SELECT job_id FROM job_failures")).rows).toEqual([{ job_id: jobs[1].id }]);
  expect(await jobCounts(db.pool)).toEqual({ queued: 1, done: 0, failed: 1, lost: 0 });
});
