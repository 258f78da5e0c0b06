import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { type Job, type RidesClient, RidesApiError } from "../client/client.ts";
import type { Batch } from "./batches.ts";
import { splitFile } from "./batches.ts";

export type SendOptions = {
  batchSize: number;
  concurrency: number;
  /** How long to wait for the jobs to be stored; 0 does not wait. */
  waitMs: number;
  timeZone?: string;
  onStart?: (rides: number, batches: number) => void;
  onBatch?: (batch: Batch, outcome: string) => void;
};

/** A ride the service refused, numbered by its position in the file (1 = first ride). */
export type RejectedRide = { ride: number; id: unknown; reasons: string[] };
/** A batch refused as a whole (e.g. 413), so none of its rides was accepted. */
export type RefusedBatch = { firstRide: number; rides: number; status: number; detail: string };

export type SendSummary = {
  total: number;
  batches: number;
  accepted: number;
  /** Every rejected ride; `rejected` lists those the answers listed (the first 100 of each batch). */
  rejectedCount: number;
  rejected: RejectedRide[];
  refused: RefusedBatch[];
  jobs: Pick<Job, "job_id" | "status" | "error">[];
};

const rejectedRides = (batch: Batch, rejected: { index: number; id: unknown; errors: { path: string; message: string }[] }[]) =>
  rejected.map((ride) => ({
    ride: batch.firstRow + ride.index + 1,
    id: ride.id,
    reasons: ride.errors.map((error) => (error.path ? `${error.path} ${error.message}` : error.message)),
  }));

/**
 * Sends a file in batches, a few at a time. Each batch carries its own Idempotency-Key,
 * reused on its retries, so a retried batch is not staged twice.
 */
export async function sendFile(client: RidesClient, path: string, options: SendOptions): Promise<SendSummary> {
  const { contentType, total, batches } = splitFile(path, await readFile(path, "utf8"), options.batchSize);
  options.onStart?.(total, batches.length);
  const run = randomUUID();
  const summary: SendSummary = { total, batches: batches.length, accepted: 0, rejectedCount: 0, rejected: [], refused: [], jobs: [] };
  const jobIds: number[] = [];

  async function send(batch: Batch, number: number) {
    try {
      const answer = await client.sendRides(batch.body, contentType, { idempotencyKey: `${run}-${number}`, timeZone: options.timeZone });
      jobIds.push(answer.job_id);
      summary.accepted += answer.accepted;
      summary.rejectedCount += answer.rejected_count;
      summary.rejected.push(...rejectedRides(batch, answer.rejected));
      options.onBatch?.(batch, `job ${answer.job_id}`);
    } catch (error) {
      if (!(error instanceof RidesApiError)) throw error;
      if (error.problem.rejected) {
        summary.rejectedCount += error.problem.rejected_count ?? error.problem.rejected.length;
        summary.rejected.push(...rejectedRides(batch, error.problem.rejected));
      }
      else summary.refused.push({ firstRide: batch.firstRow + 1, rides: batch.rides, status: error.status, detail: error.message });
      options.onBatch?.(batch, `refused (${error.status})`);
    }
  }

  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const number = next++;
      await send(batches[number], number);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, batches.length) }, worker));

  summary.rejected.sort((a, b) => a.ride - b.ride);
  jobIds.sort((a, b) => a - b);
  summary.jobs = options.waitMs > 0 ? await client.waitForJobs(jobIds, options.waitMs) : await Promise.all(jobIds.map(client.getJob));
  return summary;
}
