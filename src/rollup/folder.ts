import type pg from "pg";
import { inTransaction } from "../db/client.ts";
import { FOLD_ROLLUP_LOG, FOLDER_LOCK } from "./rollups.ts";

/** Changes folded per transaction: big enough to merge many rides into few rollup rows, small enough to keep transactions short. */
const FOLD_BATCH_ROWS = 100_000;

/**
 * Keeps the rollups current off the intake path: each wake-up (the mover calls it after
 * every chunk) folds rollup_log into the rollups until it is empty. Wake-ups that come
 * while it folds make it look again rather than run beside it; the lock serialises the
 * folders of several processes. `zone` is RIDES_TIME_ZONE.
 */
export function createFolder(pool: pg.Pool, zone: string, onError: (error: unknown) => void) {
  let folding: Promise<void> | undefined;
  let again = false;

  async function foldAll(): Promise<number> {
    let total = 0;
    for (;;) {
      const folded = await inTransaction(pool, async (client) => {
        await client.query(FOLDER_LOCK);
        return (await client.query<{ folded: number }>(FOLD_ROLLUP_LOG, [zone, FOLD_BATCH_ROWS])).rows[0].folded;
      });
      total += folded;
      if (folded < FOLD_BATCH_ROWS) return total;
    }
  }

  function wake() {
    if (folding) {
      again = true;
      return;
    }
    folding = (async () => {
      do {
        again = false;
        await foldAll();
      } while (again);
    })()
      .catch(onError)
      .finally(() => {
        folding = undefined;
      });
  }

  return {
    wake,
    foldAll,
    /** Resolves once the fold in progress, if any, is over. */
    settled: () => folding ?? Promise.resolve(),
  };
}

export type Folder = ReturnType<typeof createFolder>;
