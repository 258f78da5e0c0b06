import type pg from "pg";
import { ridesKeptFrom } from "../mover/partitions.ts";

/**
 * How stale another process's view of the oldest month kept may get (the pruning process
 * refreshes its own at once); a prune marks a month refused before it drops it.
 */
export const RIDES_WINDOW_REFRESH_MS = 10_000;

/**
 * The start of the oldest month of rides kept (RIDES_RETENTION_MONTHS), as an instant,
 * or undefined while every month is kept. One query per RIDES_WINDOW_REFRESH_MS at
 * most, however many requests ask; only read at all when the setting is on.
 */
export function createRidesWindow(pool: pg.Pool, enabled: boolean) {
  let keptFrom: number | undefined;
  let checkedAt = -Infinity;
  let refreshing: Promise<void> | undefined;
  async function oldestKept(): Promise<number | undefined> {
    if (!enabled) return undefined;
    if (Date.now() - checkedAt > RIDES_WINDOW_REFRESH_MS) {
      refreshing ??= ridesKeptFrom(pool)
        .then((from) => {
          keptFrom = from?.getTime();
          checkedAt = Date.now();
        })
        .finally(() => {
          refreshing = undefined;
        });
      await refreshing;
    }
    return keptFrom;
  }
  /** Reads it again on the next ask (after this process pruned). */
  oldestKept.invalidate = () => {
    checkedAt = -Infinity;
  };
  return oldestKept;
}

export type RidesWindow = ReturnType<typeof createRidesWindow>;
