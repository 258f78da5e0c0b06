import pg from "pg";
import { finishedJobs, type Job, JOBS_FINISHED_CHANNEL, markLost } from "../jobs/store.ts";

export type JobEventsOptions = {
  /** The connection that LISTENs; a session of its own (a transaction pooler would drop the LISTEN). */
  listenUrl: string;
  pool: pg.Pool;
  onError: (error: unknown) => void;
  /** Notifications: called on every notice and after each (re)connect, so SSE and webhooks read job_events. */
  onNotice?: () => void;
};

const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/**
 * Tells whoever watches a job when it leaves queued: one LISTEN connection per process
 * hears the mover's notices (ranges of job ids, from any process) and one query reads
 * the watched jobs in a range. Notices sent while the connection was down are gone, so
 * each (re)connect marks lost jobs and reads every watched job once.
 */
export function createJobEvents({ listenUrl, pool, onError, onNotice }: JobEventsOptions) {
  // More than one may wait on a job: POSTs replaying one Idempotency-Key all wait on its job.
  const watching = new Map<number, Set<(job: Job) => void>>();
  let highestNotified = 0;
  let client: pg.Client | undefined;
  let stopped = false;
  let retryMs = RECONNECT_FIRST_MS;
  let retryTimer: NodeJS.Timeout | undefined;

  async function tell(jobIds: number[]) {
    if (jobIds.length === 0) return;
    try {
      for (const job of await finishedJobs(pool, jobIds)) {
        const listeners = watching.get(job.job_id);
        watching.delete(job.job_id);
        for (const listener of listeners ?? []) listener(job);
      }
    } catch (error) {
      onError(error);
    }
  }

  function onNotification(message: pg.Notification) {
    onNotice?.();
    const [first, last] = (message.payload ?? "").split("-").map(Number);
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) return;
    highestNotified = Math.max(highestNotified, last);
    const ids: number[] = [];
    if (last - first < watching.size) {
      for (let id = first; id <= last; id++) if (watching.has(id)) ids.push(id);
    } else {
      for (const id of watching.keys()) if (id >= first && id <= last) ids.push(id);
    }
    void tell(ids);
  }

  async function connect() {
    const next = new pg.Client({ connectionString: listenUrl, application_name: "rides-ingest-listen" });
    let failed = false;
    const retry = (error?: unknown) => {
      if (failed || stopped) return;
      failed = true;
      if (error) onError(error);
      if (client === next) client = undefined;
      next.end().catch(() => {});
      retryTimer = setTimeout(() => void connect(), retryMs);
      retryMs = Math.min(retryMs * 2, RECONNECT_MAX_MS);
    };
    next.on("error", retry);
    next.on("end", () => retry());
    next.on("notification", onNotification);
    try {
      await next.connect();
      await next.query(`LISTEN ${JOBS_FINISHED_CHANNEL}`);
    } catch (error) {
      retry(error);
      return;
    }
    if (stopped) {
      await next.end().catch(() => {});
      return;
    }
    client = next;
    retryMs = RECONNECT_FIRST_MS;
    onNotice?.();
    if (watching.size > 0) {
      await markLost(pool).catch(onError);
      await tell([...watching.keys()]);
    }
  }

  return {
    start: connect,
    /** Calls listener once, when jobId is done, failed or lost. */
    watch(jobId: number, listener: (job: Job) => void) {
      const listeners = watching.get(jobId) ?? new Set();
      watching.set(jobId, listeners.add(listener));
      // Its notice may have come before it was watched.
      if (jobId <= highestNotified) void tell([jobId]);
    },
    /** Stops listener (or, without one, every listener) waiting on jobId. */
    unwatch(jobId: number, listener?: (job: Job) => void) {
      const listeners = watching.get(jobId);
      if (listener) listeners?.delete(listener);
      if (!listener || listeners?.size === 0) watching.delete(jobId);
    },
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      await client?.end().catch(() => {});
    },
  };
}

export type JobEvents = ReturnType<typeof createJobEvents>;
