import pg from "pg";

// int8 ids and counts fit in a JS number here (ride ids are checked to be safe integers).
pg.types.setTypeParser(pg.types.builtins.INT8, Number);

export type PoolOptions = { max?: number; connectTimeoutMs?: number; queryTimeoutMs?: number };

/**
 * A pool of plain transactions and single statements: nothing in it relies on a session
 * (no session locks or LISTEN, and named prepared statements only by `statement`), so
 * `url` may be PgBouncer in transaction pooling mode.
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
 * A hot statement, kept prepared by each connection when `prepare` (the pool reaches
 * PostgreSQL itself): it is then parsed once per connection and, after a few runs,
 * planned once, where planning cost as much as running it. PgBouncer before 1.21 cannot
 * carry a prepared statement across the server connections of transaction pooling, so
 * through it (DATABASE_URL apart from DIRECT_DATABASE_URL) the statement goes unnamed.
 */
export function statement({ name, text, prepare }: { name: string; text: string; prepare: boolean }): { name?: string; text: string } {
  return prepare ? { name, text } : { text };
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

/** Longest a detach waits for the statements still using the partition; the next prune finishes one cut short. */
export const DETACH_TIMEOUT_MS = 30_000;

/**
 * ALTER TABLE … DETACH PARTITION CONCURRENTLY (or FINALIZE, for one a crash or the timeout
 * left half detached): it takes SHARE UPDATE EXCLUSIVE on the table, which no reader or
 * writer waits on, and cannot run in a transaction, so it gets a session of its own with
 * a statement timeout. Names are the caller's, never request text.
 */
export async function detachPartition(pool: pg.Pool, { table, partition, finalize }: { table: string; partition: string; finalize: boolean }): Promise<void> {
  const client = await pool.connect();
  // A connection that dies meanwhile (a database restart) must not crash the process, nor go back to the pool.
  const onError = () => {};
  client.on("error", onError);
  let broken: Error | undefined;
  try {
    await client.query(`SET statement_timeout = ${DETACH_TIMEOUT_MS}`);
    await client.query(`ALTER TABLE ${table} DETACH PARTITION "${partition}" ${finalize ? "FINALIZE" : "CONCURRENTLY"}`);
  } finally {
    await client.query("RESET statement_timeout").catch((error: Error) => {
      broken = error;
    });
    client.off("error", onError);
    client.release(broken);
  }
}
