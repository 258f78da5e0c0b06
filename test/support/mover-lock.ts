import pg from "pg";

/**
 * Holds the mover's cluster-wide advisory lock, so staged rides pile up as if the mover
 * could not keep up; the returned function lets it go.
 */
export async function holdMover(databaseUrl: string): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on("error", () => {});
  await client.connect();
  await client.query("SELECT pg_advisory_lock(hashtext('rides-mover'))");
  return async () => {
    await client.query("SELECT pg_advisory_unlock(hashtext('rides-mover'))");
    await client.end();
  };
}
