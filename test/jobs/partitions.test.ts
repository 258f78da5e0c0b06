import { afterAll, beforeAll, expect, it } from "vitest";
import { createStager } from "../../src/intake/stager.ts";
import { createJobPartitions, jobPartitions, nextJobId } from "../../src/jobs/partitions.ts";
import { createMover } from "../../src/mover/move.ts";
import { createPartitions } from "../../src/mover/partitions.ts";
import { readRides } from "../../src/rides/index.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createTestPruner } from "../support/pruner.ts";
import { ride } from "../support/service.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ travelTypes: true });
});
afterAll(async () => {
  await db?.drop();
});

const ZONE = "Asia/Kolkata";
const SIZE = 5;
const ensureJobPartitions = () => createJobPartitions(db.pool, SIZE)();
const stager = () =>
  createStager({ pool: db.pool, partitionZone: ZONE, idempotencyKeyTtlHours: 24, ensureJobPartitions, onStaged: () => {}, prepare: true });
const oneRide = (id: number) => readRides(JSON.stringify([ride({ id })]), "application/json", ZONE, 10).accepted;
const attachedBounds = async () => (await jobPartitions(db.pool)).filter((p) => p.attached && p.from > 0).map((p) => [p.from, p.to]);

it("a job whose id no partition holds yet is staged once the partitions are added, and they stay ahead of the ids", async () => {
  // The migration's partition ends at id 1,000,000: the next job needs one that does not exist.
  await db.pool.query("SELECT setval('jobs_id_seq', 1000000)");
  const staged = await stager().stage(oneRide(897_001));
  expect(staged.created).toBe(true);
  expect(staged.jobId).toBeGreaterThan(1_000_000);
  const { rows } = await db.pool.query("SELECT j.id, s.ride_count FROM jobs j JOIN staging s ON s.job_id = j.id");
  expect(rows).toEqual([{ id: staged.jobId, ride_count: 1 }]);

  expect(await attachedBounds()).toEqual([
    [1_000_001, 1_000_006],
    [1_000_006, 1_000_011],
    [1_000_011, 1_000_016],
  ]);
});

// Once every id of every partition is drawn and every job is past retention, a prune drops
// them all; the next partitions then started again at id 1, one ATTACH for each SIZE ids
// up to the next id, each slower than the last (a test with 4-id partitions hung on it).
it("after a prune dropped every partition, the next ones start where the dropped ones ended", async () => {
  const stage = stager();
  for (let id = 897_002; (await nextJobId(db.pool)) < 1_000_016; id++) await stage.stage(oneRide(id));
  const mover = createMover({ pool: db.pool, ensurePartitions: createPartitions(db.pool, ZONE), chunkRows: 100, zone: ZONE, prepare: true });
  while ((await mover.moveChunk()).jobs > 0);
  await db.pool.query("UPDATE jobs SET received_at = now() - interval '40 days'");
  const pruner = createTestPruner(db.pool, 30);
  await pruner.prune();
  expect(await jobPartitions(db.pool)).toEqual([]);

  await ensureJobPartitions();
  expect(await attachedBounds()).toEqual([
    [1_000_016, 1_000_021],
    [1_000_021, 1_000_026],
  ]);
  const next = await stage.stage(oneRide(897_100));
  expect(next.jobId).toBe(1_000_016);
});
