import type pg from "pg";
import { Problem, RETRY_AFTER_SECONDS } from "../http/problem.ts";
import { stagedRides } from "../jobs/store.ts";

/** How stale the backlog figure may get; rides this process stages meanwhile are added to it. */
const REFRESH_MS = 200;

/**
 * The cap on rides waiting in staging (all processes): beyond it intake answers 503 +
 * Retry-After, so a mover that cannot keep up slows senders down instead of letting
 * staging grow without bound. One query per REFRESH_MS / 2 at most, however many requests.
 */
export function createBacklog(pool: pg.Pool, maxRides: number) {
  let staged = 0;
  let checkedAt = 0;
  let refreshing: Promise<void> | undefined;

  function refresh(): Promise<void> {
    refreshing ??= stagedRides(pool)
      .then((rides) => {
        staged = rides;
        checkedAt = Date.now();
      })
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  }

  async function current(): Promise<number> {
    const age = Date.now() - checkedAt;
    if (age > REFRESH_MS) await refresh();
    // Read again ahead of time while requests keep coming: the sum over staging takes
    // milliseconds when staging is long, and every request arriving meanwhile would wait
    // for it. An error here is left to the next wait (or the staging) to meet.
    else if (age > REFRESH_MS / 2 && !refreshing) refresh().catch(() => {});
    return staged;
  }

  return {
    /** Throws the 503 when staging is full; otherwise counts the rides about to be staged. */
    async admit(rides: number): Promise<void> {
      const backlog = await current();
      if (backlog >= maxRides) {
        throw new Problem(
          503,
          `${backlog} rides are waiting to be stored (limit ${maxRides}); nothing from this request was accepted, retry later`,
          {},
          { "retry-after": String(RETRY_AFTER_SECONDS) },
        );
      }
      staged += rides;
    },
  };
}

export type Backlog = ReturnType<typeof createBacklog>;
