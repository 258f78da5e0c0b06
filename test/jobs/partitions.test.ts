import { afterAll, beforeAll, expect, it } from "vitest";
import { createStager } from "../../src/intake/stager.ts";
import { createJobPartitions, jobPartitions } from "../../src/jobs/partitions.ts";
import { readRides } from "../../src/rides/index.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride } from "../support/service.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ travelTypes: true });
});
afterAll(async () => {
  await db?.drop();
});

it("a job whose id no partition holds yet is staged once the partitions are added, and they stay ahead of the ids", async () => {
  // The migration's partition ends at id 1,000,000: the next job needs one that does not exist.
  await db.pool.query("SELECT setval('jobs_id_seq', 1000000)");
  const ensureJobPartitions = createJobPartitions(db.pool, 5);
  const stager = createStager({ pool: db.pool, partitionZone: "Asia/Kolkata", idempotencyKeyTtlHours: 24, ensureJobPartitions, onStaged: () => {}, prepare: true });
  const { accepted } = readRides(JSON.stringify([ride({ id: 897_001 })]), "application/json", "Asia/Kolkata", 10);

  const staged = await stager.stage(accepted);
  expect(staged.created).toBe(true);
  expect(staged.jobId).toBeGreaterThan(1_000_000);
  const { rows } = await db.pool.query("SELECT j.id, s.ride_count FROM jobs j JOIN staging s ON s.job_id = j.id");
  expect(rows).toEqual([{ id: staged.jobId, ride_count: 1 }]);

  const attached = (await jobPartitions(db.pool)).filter((p) => p.attached && p.from > 0);
  expect(attached.map((p) => [p.from, p.to])).toEqual([
    [1_000_001, 1_000_006],
    [1_000_006, 1_000_011],
    [1_000_011, 1_000_016],
  ]);
});
