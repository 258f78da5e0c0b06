import type pg from "pg";
import { isDatabaseUnavailable } from "../db/errors.ts";
import { Problem, RETRY_AFTER_SECONDS } from "../http/problem.ts";

/** A hot standby cancels a read that conflicts with the WAL it replays (serialization failure or deadlock). */
const RECOVERY_CONFLICT_CODES = new Set(["40001", "40P01"]);

export type AnalyticsOptions = {
  /** The analytics pool (ANALYTICS_DATABASE_URL): never the intake's, so a heavy read cannot starve intake. */
  pool: pg.Pool;
  /** Reads running at once: one per pool connection, so none waits inside the pool, where nothing bounds the wait. */
  running: number;
  /** Reads waiting for a turn; one more is answered 429 at once. */
  queued: number;
  /** Longest a read waits for its turn before it is answered 429. */
  waitMs: number;
};

const busy = (detail: string) =>
  new Problem(429, `${detail}; retry later`, {}, { "retry-after": String(RETRY_AFTER_SECONDS) });

/**
 * The heavy reads (POST /v1/query, the dashboard's rides per hour): at most `running` at
 * once, up to `queued` more waiting in arrival order, the rest turned away with 429 and
 * Retry-After. A database that is down, slow to connect, or a standby that cancels a read
 * answers 503 with Retry-After, and touches nothing of intake.
 */
export function createAnalytics({ pool, running, queued, waitMs }: AnalyticsOptions) {
  let active = 0;
  const waiting: (() => void)[] = [];

  function acquire(): Promise<void> | void {
    if (active < running) {
      active++;
      return;
    }
    if (waiting.length >= queued) throw busy(`${running} analytics reads are running and ${queued} are waiting`);
    return new Promise((resolve, reject) => {
      const turn = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(turn), 1);
        reject(busy(`no analytics read finished within ${waitMs} ms to make room for this one`));
      }, waitMs);
      waiting.push(turn);
    });
  }

  function release() {
    const next = waiting.shift();
    // The slot passes straight to the next in line.
    if (next) next();
    else active--;
  }

  return {
    pool,
    async read<T>(work: (pool: pg.Pool) => Promise<T>): Promise<T> {
      await acquire();
      try {
        return await work(pool);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (isDatabaseUnavailable(error) || (code !== undefined && RECOVERY_CONFLICT_CODES.has(code))) {
          throw new Problem(503, "the analytics database is unavailable or cancelled the read; retry later", {}, {
            "retry-after": String(RETRY_AFTER_SECONDS),
          });
        }
        throw error;
      } finally {
        release();
      }
    },
  };
}

export type Analytics = ReturnType<typeof createAnalytics>;
