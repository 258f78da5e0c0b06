import type pg from "pg";
import { inTransaction } from "../db/client.ts";
import { MOVER_LOCK } from "../mover/move.ts";
import { HAS_PAYLOAD, type JobStatus, LOCK_JOB, REQUEUE_JOB } from "./store.ts";

export type RetryOutcome =
  | { outcome: "requeued" }
  | { outcome: "not found" }
  | { outcome: "not failed"; status: JobStatus }
  | { outcome: "rides not kept"; status: JobStatus };

/**
 * Stages a failed job's kept rides again under its id. It holds the mover's lock, so no
 * move runs between reading which rides later jobs stored and staging the rest: the
 * retried send, older than those, never overwrites them. A job lost after a retry still
 * has its kept rides and may be retried too.
 */
export async function retryJob(pool: pg.Pool, jobId: number): Promise<RetryOutcome> {
  return inTransaction(pool, async (client) => {
    await client.query(MOVER_LOCK);
    const job = (await client.query<{ status: JobStatus }>(LOCK_JOB, [jobId])).rows[0];
    if (!job) return { outcome: "not found" };
    if (job.status !== "failed" && job.status !== "lost") return { outcome: "not failed", status: job.status };
    if (!(await client.query<{ kept: boolean }>(HAS_PAYLOAD, [jobId])).rows[0].kept) return { outcome: "rides not kept", status: job.status };
    await client.query(REQUEUE_JOB, [jobId, job.status]);
    return { outcome: "requeued" };
  });
}

