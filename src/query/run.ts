import pg from "pg";
import { Problem } from "../http/problem.ts";
import type { Compiled } from "./compile.ts";

const QUERY_CANCELED = "57014";
const TIMESTAMPTZ_OID = 1184;

/**
 * "2013-01-01 00:00:00+05:30" or "…+02", as PostgreSQL prints a timestamptz in the
 * transaction's zone and ISO DateStyle → ISO 8601. Reshaping the text costs far less per
 * row than parsing it into a Date and formatting that again in the zone.
 */
const isoFromPostgres = (text: string) => text.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00");

const bucketsAsIso = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === TIMESTAMPTZ_OID ? isoFromPostgres : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

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
    await client.query(
      `SELECT set_config('statement_timeout', $1, true), set_config('jit', 'off', true),
              set_config('timezone', $2, true), set_config('datestyle', 'ISO', true)`,
      [String(timeoutMs), zone],
    );
    const { rows } = await client.query({ text: compiled.sql, values: compiled.params, rowMode: "array", types: bucketsAsIso });
    await client.query("COMMIT");
    return rows;
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
