import pg from "pg";

// int8 ids and counts fit in a JS number here (ride ids are checked to be safe integers).
pg.types.setTypeParser(pg.types.builtins.INT8, Number);

export type PoolOptions = { max?: number; connectTimeoutMs?: number; queryTimeoutMs?: number };

/**
 * A pool of plain transactions and single statements: nothing in it relies on a session
 * (no session locks, LISTEN or named prepared statements), so `url` may be PgBouncer in
 * transaction pooling mode.
 */
export function createPool(url: string, { max = 8, connectTimeoutMs = 5_000, queryTimeoutMs = 30_000 }: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: connectTimeoutMs,
    // A request must never hang on a database that went away.
    query_timeout: queryTimeoutMs,
    application_name: "rides-ingest",
  });
  // An idle client dying (database restart) must not crash the process; the pool replaces it.
  pool.on("error", () => {});
  // No drizzle query builder here: importing drizzle-orm's ES modules alone peaks at ~250 MB
  // RSS on Node 24 (see migrate.ts); the service's SQL is plain and bound through pg.
  return pool;
}

/**
 * Runs work on a pooled client. The pool takes its own 'error' listener off a client it
 * hands out; a connection that dies while work holds it (a database restart) would then
 * emit an unheard 'error' and crash the process. The listener here hears it, and a
 * client that broke, or that work marks broken, is destroyed instead of going back to
 * the pool.
 */
export async function withClient<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, markBroken: (error: Error) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const markBroken = (error: Error) => {
    broken ??= error;
  };
  client.on("error", markBroken);
  try {
    return await work(client, markBroken);
  } finally {
    client.removeListener("error", markBroken);
    client.release(broken);
  }
}

/** Runs work in one transaction on a pooled client; a client whose ROLLBACK fails is not reused. */
export function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client, markBroken) => {
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(markBroken);
      throw error;
    }
  });
}
