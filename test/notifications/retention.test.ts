import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { createJobPartitions } from "../../src/jobs/partitions.ts";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { holdMover } from "../support/locks.ts";
import { post, ride, startTestService, waitForJob } from "../support/service.ts";
import { startReceiver } from "../webhooks/receiver.ts";

/** As in test/retention/pruner.test.ts: jobs in partitions of ten ids, after the migration's first one. */
const FIRST_ID = 1_000_001;
const PARTITION_SIZE = 10;

let db: TestDatabase;
let service: Service;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query("SELECT setval('jobs_id_seq', $1)", [FIRST_ID + 60]);
  await createJobPartitions(db.pool, PARTITION_SIZE)();
  await db.pool.query("SELECT setval('jobs_id_seq', $1)", [FIRST_ID - 1]);
  receiver = await startReceiver(() => 200);
  service = await startTestService(db.url, {
    JOBS_PARTITION_SIZE: String(PARTITION_SIZE),
    JOBS_RETENTION_DAYS: "30",
    WEBHOOK_URLS: `all=${receiver.url}`,
    WEBHOOK_SECRET: "whsec_retention_0123456789",
    WEBHOOK_ALLOW_PRIVATE_URLS: "true",
  });
});
afterAll(async () => {
  await service?.stop();
  await receiver?.close();
  await db?.drop();
});

const sendOne = async (id: number) => (await post(service.url, JSON.stringify(ride({ id })), "application/json")).body.job_id as number;
const jobIdsIn = async (table: string) =>
  (await db.pool.query<{ job_id: number }>(`SELECT DISTINCT job_id FROM ${table} ORDER BY job_id`)).rows.map((row) => row.job_id);

it("job events and webhook deliveries are pruned with their jobs (whole partitions and bounded deletes), never before", async () => {
  const finished: number[] = [];
  for (let i = 0; i < 26; i++) finished.push(await sendOne(880_000 + i));
  for (const id of finished) await waitForJob(service.url, id);
  await vi.waitFor(async () => expect(await jobIdsIn("webhook_deliveries")).toEqual(finished), { timeout: 15_000 });
  expect(await jobIdsIn("job_events")).toEqual(finished);

  const releaseMover = await holdMover(db.url);
  try {
    // Enough to reach the next partition: the one new jobs go to is never pruned.
    const queued: number[] = [];
    for (let i = 0; i < 5; i++) queued.push(await sendOne(880_100 + i));
    // All but the 26th were received 40 days ago: partitions 1 and 2 go whole; in partition 3,
    // which holds the queued jobs, the five expired finished ones are deleted and the 26th stays.
    await db.pool.query("UPDATE jobs SET received_at = received_at - interval '40 days' WHERE id <> $1", [finished[25]]);
    const report = await service.pruner.prune();
    expect(report).toMatchObject({ jobs: 25, jobPartitions: 3 });
    expect(await jobIdsIn("job_events")).toEqual([finished[25]]);
    expect(await jobIdsIn("webhook_deliveries")).toEqual([finished[25]]);
    expect(queued.at(-1)).toBeGreaterThanOrEqual(FIRST_ID + 3 * PARTITION_SIZE);
  } finally {
    await releaseMover();
  }
});
