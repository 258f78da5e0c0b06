import type pg from "pg";
import { type JobEvent, jobEventsAfter, type JobStatus, newestJobEventSeq } from "../jobs/store.ts";

/** Events one read takes at most: a connection far behind catches up in pages of this. */
export const SSE_PAGE = 500;
/** Events queued for one connection at most; past it the client is too slow and is closed (it resumes with Last-Event-ID). */
export const SSE_MAX_QUEUED = 10_000;

export type JobStreamOptions = { pool: pg.Pool; pingIntervalMs: number; onError: (error: unknown) => void };

export type Subscriber = {
  /** The events to write next, taken; empty once there are none. */
  take(): JobEvent[];
  /** Resolves when there are events, a keep-alive is due, or the subscriber closed. */
  next(): Promise<"events" | "ping" | "closed">;
  close(): void;
};

/**
 * The job events of GET /v1/jobs/events, one reader per process: a notice on the jobs'
 * channel (or a keep-alive tick, the backstop for a notice lost while LISTEN reconnected)
 * reads job_events after the newest seq read (`head`) once for every subscriber that is
 * caught up; a subscriber that resumes from an older seq reads its own pages up to head
 * until it is caught up. Every seq up to head has committed (JOB_EVENTS_LOCK in
 * src/jobs/store.ts), so reading after a seq skips none, and one reader in order repeats none.
 */
export function createJobStream({ pool, pingIntervalMs, onError }: JobStreamOptions) {
  type State = Subscriber & { cursor: number; queue: JobEvent[]; push(events: JobEvent[], through: number): void; ping(): void };
  const subscribers = new Set<State>();
  let head = 0;
  let reading = false;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  async function read() {
    // Nobody listening: only where "now" is, for the next stream that opens without Last-Event-ID.
    if (subscribers.size === 0) {
      head = Math.max(head, await newestJobEventSeq(pool));
      return;
    }
    for (;;) {
      const from = head;
      const fresh = await jobEventsAfter(pool, from, SSE_PAGE);
      if (fresh.length === 0) break;
      head = fresh.at(-1)!.seq;
      for (const subscriber of subscribers) if (subscriber.cursor >= from) subscriber.push(fresh, head);
      if (fresh.length < SSE_PAGE) break;
    }
    for (const subscriber of subscribers) {
      // One that has not written what it holds reads on when it has (take() wakes the reader).
      if (subscriber.cursor >= head || subscriber.queue.length >= SSE_PAGE) continue;
      const behind = await jobEventsAfter(pool, subscriber.cursor, SSE_PAGE, head);
      subscriber.push(behind, behind.length < SSE_PAGE ? head : behind.at(-1)!.seq);
      if (subscriber.cursor < head) again = true;
    }
  }

  async function wake() {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        await read();
      } while (again && !stopped);
    } catch (error) {
      onError(error);
    } finally {
      reading = false;
    }
  }

  function subscribe(after: number | undefined, statuses: Set<JobStatus>): Subscriber {
    let waiting: ((reason: "events" | "ping" | "closed") => void) | undefined;
    let closed = false;
    let pingDue = false;
    const signal = (reason: "events" | "ping" | "closed") => {
      const resolve = waiting;
      waiting = undefined;
      resolve?.(reason);
    };
    const subscriber: State = {
      cursor: after ?? head,
      queue: [],
      push(events, through) {
        for (const event of events) if (event.seq > this.cursor && statuses.has(event.job.status)) this.queue.push(event);
        this.cursor = Math.max(this.cursor, through);
        if (this.queue.length > SSE_MAX_QUEUED) this.close();
        else if (this.queue.length > 0) signal("events");
      },
      take() {
        const taken = this.queue;
        this.queue = [];
        if (this.cursor < head) void wake();
        return taken;
      },
      next() {
        if (closed) return Promise.resolve("closed");
        if (this.queue.length > 0) return Promise.resolve("events");
        if (pingDue) {
          pingDue = false;
          return Promise.resolve("ping");
        }
        return new Promise((resolve) => (waiting = resolve));
      },
      close() {
        if (closed) return;
        closed = true;
        subscribers.delete(subscriber);
        signal("closed");
      },
      ping() {
        pingDue = true;
        signal("ping");
      },
    };
    subscribers.add(subscriber);
    if (after !== undefined && after < head) void wake();
    return subscriber;
  }

  return {
    async start() {
      head = await newestJobEventSeq(pool);
      timer = setInterval(() => {
        for (const subscriber of subscribers) subscriber.ping();
        void wake();
      }, pingIntervalMs);
      timer.unref();
    },
    /** Reads new events (a job finished, or LISTEN reconnected). */
    wake: () => void wake(),
    subscribe,
    open: () => subscribers.size,
    /** Closes every subscriber (the service stops). */
    stop() {
      stopped = true;
      clearInterval(timer);
      for (const subscriber of subscribers) subscriber.close();
    },
  };
}

export type JobStream = ReturnType<typeof createJobStream>;
