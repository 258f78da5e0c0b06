import type pg from "pg";

/** Changes stored in rides that the folder has not added to the rollups yet (few, but for bursts). */
export async function pendingRollupChanges(pool: pg.Pool): Promise<number> {
  return (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM rollup_log")).rows[0].n;
}
