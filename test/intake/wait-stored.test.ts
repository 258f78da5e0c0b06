import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createJobEvents, type JobEvents } from "../../src/intake/job-events.ts";
import { createStager, type Stager } from "../../src/intake/stager.ts";
import { waitForOutcome } from "../../src/intake/wait-stored.ts";
import { createJobPartitions } from "../../src/jobs/partitions.ts";
import type { Job } from "../../src/jobs/store.ts";
import { createMover, type Mover } from "../../src/mover/move.ts";
import { createPartitions } from "../../src/mover/partitions.ts";
import { readRides } from "../../src/rides/index.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride } from "../support/service.ts";

const ZONE = "Asia/Kolkata";
/** Far beyond the condition waits below: an answer within them came with the notice. */
const NEVER_MS = 120_000;

let db: TestDatabase;
let stager: Stager;
let mover: Mover;
let listening: JobEvents;
let nextRideId = 910_000;

beforeAll(async () => {
  db = await createTestDatabase({ travelTypes: true });
  const ensureJobPartitions = createJobPartitions(db.pool, 1_000);
  stager = createStager({ pool: db.pool, partitionZone: ZONE, idempotencyKeyTtlHours: 24, ensureJobPartitions, onStaged: () => {}, prepare: true });
  mover = createMover({ pool: db.pool, ensurePartitions: createPartitions(db.pool, ZONE), chunkRows: 100, zone: ZONE, prepare: true });
  listening = createJobEvents({ listenUrl: db.url, pool: db.pool, onError: (error) => expect.fail(String(error)) });
  await listening.start();
});
afterAll(async () => {
  await listening?.stop();
  await db?.drop();
});

const stage = async () => {
  const { accepted } = readRides(JSON.stringify(ride({ id: nextRideId++ })), "application/json", ZONE, 10);
  return (await stager.stage(accepted)).jobId;
};

/** The wait, and whether it has answered yet. */
function waiting(events: JobEvents, jobId: number, pollMs: number) {
  const state: { job?: Job; answered: boolean } = { answered: false };
  const done = waitForOutcome({ events, pool: db.pool, jobId, timeoutMs: NEVER_MS, pollMs }).then((job) => {
    state.job = job;
    state.answered = true;
  });
  return { state, done };
}

describe("waiting for a job's outcome (?wait=stored)", () => {
  it("answers on the mover's notice, with no read of its own in between", async () => {
    const jobId = await stage();
    const wait = waiting(listening, jobId, NEVER_MS);
    await mover.moveChunk();
    await vi.waitFor(() => expect(wait.state.answered).toBe(true), { timeout: 10_000 });
    expect(wait.state.job).toMatchObject({ job_id: jobId, status: "done", stored: 1 });
  });

  it("answers every wait on one job (POSTs replaying one Idempotency-Key)", async () => {
    const jobId = await stage();
    const waits = [waiting(listening, jobId, NEVER_MS), waiting(listening, jobId, NEVER_MS)];
    await mover.moveChunk();
    await vi.waitFor(() => expect(waits.map((w) => w.state.answered)).toEqual([true, true]), { timeout: 10_000 });
    expect(waits.map((w) => w.state.job?.status)).toEqual(["done", "done"]);
  });

  it("reads the job itself now and then when no notice comes (no LISTEN connection)", async () => {
    const deaf = createJobEvents({ listenUrl: db.url, pool: db.pool, onError: () => {} });
    const jobId = await stage();
    const wait = waiting(deaf, jobId, 50);
    await mover.moveChunk();
    await vi.waitFor(() => expect(wait.state.answered).toBe(true), { timeout: 10_000 });
    expect(wait.state.job).toMatchObject({ job_id: jobId, status: "done" });
  });

  it("answers with a job that finished before the wait began", async () => {
    const jobId = await stage();
    await mover.moveChunk();
    const deaf = createJobEvents({ listenUrl: db.url, pool: db.pool, onError: () => {} });
    expect(await waitForOutcome({ events: deaf, pool: db.pool, jobId, timeoutMs: NEVER_MS, pollMs: NEVER_MS })).toMatchObject({ status: "done" });
  });

  it("gives up with the queued job once its time runs out", async () => {
    const jobId = await stage();
    expect(await waitForOutcome({ events: listening, pool: db.pool, jobId, timeoutMs: 200 })).toMatchObject({ job_id: jobId, status: "queued" });
    await mover.moveChunk();
  });
});
