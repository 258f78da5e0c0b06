import pg from "pg";

/** Holds a cluster-wide advisory lock of the service's; the returned function lets it go. */
async function holdLock(databaseUrl: string, name: string): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on("error", () => {});
  await client.connect();
  await client.query("SELECT pg_advisory_lock(hashtext($1))", [name]);
  return async () => {
    await client.query("SELECT pg_advisory_unlock(hashtext($1))", [name]);
    await client.end();
  };
}

/** Staged rides pile up as if the mover could not keep up. */
export const holdMover = (databaseUrl: string) => holdLock(databaseUrl, "rides-mover");

/** Stored rides' changes stay in rollup_log as if the folder could not keep up. */
export const holdFolder = (databaseUrl: string) => holdLock(databaseUrl, "rides-rollup-folder");
