import pg from "pg";

// int8 ids and counts fit in a JS number here (ride ids are checked to be safe integers).
pg.types.setTypeParser(pg.types.builtins.INT8, Number);

export type Database = ReturnType<typeof createDatabase>;

export function createDatabase(url: string, max = 8) {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 5_000,
    // A request must never hang on a database that went away.
    query_timeout: 30_000,
    application_name: "rides-ingest",
  });
  // An idle client dying (database restart) must not crash the process; the pool replaces it.
  pool.on("error", () => {});
  // No drizzle query builder here: importing drizzle-orm's ES modules alone peaks at ~250 MB
  // RSS on Node 24 (see migrate.ts); the service's SQL is plain and bound through pg.
  return { pool };
}
