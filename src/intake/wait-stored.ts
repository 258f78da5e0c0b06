import type pg from "pg";
import { getJob, type Job } from "../jobs/store.ts";
import type { JobEvents } from "./job-events.ts";

/**
 * How often a ?wait=stored answer reads its job itself: the notice of its outcome may be
 * missed (the LISTEN connection down or reconnecting), so this bounds what a missed one
 * costs, while each answer normally comes with the notice.
 */
export const WAIT_STORED_POLL_MS = 1_000;

export type WaitForOutcome = { events: JobEvents; pool: pg.Pool; jobId: number; timeoutMs: number; pollMs?: number };

/** The job once it leaves queued (moved by this process or another), or as it is when timeoutMs runs out. */
export async function waitForOutcome({ events, pool, jobId, timeoutMs, pollMs = WAIT_STORED_POLL_MS }: WaitForOutcome): Promise<Job | undefined> {
  const deadline = Date.now() + timeoutMs;
  let listener!: (job: Job) => void;
  // Watched before the first read, so an outcome between the two is not missed.
  const notified = new Promise<Job>((resolve) => {
    listener = resolve;
    events.watch(jobId, listener);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    for (;;) {
      // A replayed Idempotency-Key's job may have finished long ago.
      const job = await getJob(pool, jobId);
      const left = deadline - Date.now();
      if (job?.status !== "queued" || left <= 0) return job;
      const pause = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), Math.min(left, pollMs));
      });
      const outcome = await Promise.race([notified, pause]);
      clearTimeout(timer);
      if (outcome) return outcome;
    }
  } finally {
    clearTimeout(timer);
    events.unwatch(jobId, listener);
  }
}
