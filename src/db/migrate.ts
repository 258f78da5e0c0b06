import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import pg from "pg";

// drizzle-orm's CommonJS build: Node 24 re-reads its 179 KB package.json for every one of
// its ES modules it loads, which alone took the service to ~300 MB peak RSS (npm run bench);
// the same code loaded through require costs ~15 MB.
const require = createRequire(import.meta.url);
const { drizzle } = require("drizzle-orm/node-postgres") as typeof import("drizzle-orm/node-postgres");
const { migrate } = require("drizzle-orm/node-postgres/migrator") as typeof import("drizzle-orm/node-postgres/migrator");

const MIGRATIONS = new URL("../../drizzle/", import.meta.url).pathname;
const JOURNAL: { entries: unknown[] } = JSON.parse(readFileSync(`${MIGRATIONS}meta/_journal.json`, "utf8"));

/**
 * Applies drizzle/ (already applied ones are skipped, so running twice is safe) and sets
 * the staging table's durability. The advisory lock lets several processes start at once.
 */
export async function applyMigrations(url: string, stagingDurability: "unlogged" | "logged"): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  // A connection lost mid-migration rejects the statement; unheard, it would also crash the process.
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock(hashtext('rides-ingest-migrations'))");
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS });
    const { rows } = await client.query<{ unlogged: boolean }>(
      "SELECT relpersistence = 'u' AS unlogged FROM pg_class WHERE oid = 'staging'::regclass",
    );
    if (rows[0].unlogged !== (stagingDurability === "unlogged")) {
      await client.query(stagingDurability === "unlogged" ? "ALTER TABLE staging SET UNLOGGED" : "ALTER TABLE staging SET LOGGED");
    }
  } finally {
    await client.end();
  }
}

/** True when every migration in drizzle/ is recorded as applied. */
export async function migrationsApplied(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ applied: number }>(
    "SELECT count(*)::int AS applied FROM drizzle.__drizzle_migrations",
  );
  return rows[0].applied >= JOURNAL.entries.length;
}
