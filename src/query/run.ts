import type pg from "pg";
import { Problem } from "../http/problem.ts";
import { offsetAt } from "../rides/time.ts";
import type { Compiled } from "./compile.ts";

const QUERY_CANCELED = "57014";

/**
 * Runs a compiled query read-only under a statement timeout local to its transaction, so
 * a heavy query stops on its own and the setting never leaks to the next pool user.
 * Time buckets come back as ISO 8601 in the query's zone.
 */
export async function runQuery(pool: pg.Pool, compiled: Compiled, zone: string, timeoutMs: number): Promise<unknown[][]> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN READ ONLY");
    // JIT compiling costs tens of ms up front, more than a rollup query takes in all.
    await client.query("SELECT set_config('statement_timeout', $1, true), set_config('jit', 'off', true)", [String(timeoutMs)]);
    const { rows } = await client.query({ text: compiled.sql, values: compiled.params, rowMode: "array" });
    await client.query("COMMIT");
    return rows.map((row: unknown[]) => row.map((cell) => (cell instanceof Date ? isoInZone(cell.getTime(), zone) : cell)));
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    if ((error as { code?: string }).code === QUERY_CANCELED) {
      throw new Problem(503, `the query ran longer than the ${timeoutMs} ms allowed; narrow time.from..time.to or the dimensions`);
    }
    throw error;
  } finally {
    client.release();
  }
}

/** 2013-01-01T00:00:00+05:30: the bucket's start on the wall clock it was cut by. */
export function isoInZone(instant: number, zone: string): string {
  const offset = offsetAt(zone, instant);
  const sign = offset < 0 ? "-" : "+";
  const minutes = Math.abs(offset) / 60_000;
  const hhmm = `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
  return `${new Date(instant + offset).toISOString().slice(0, 19)}${sign}${hhmm}`;
}
