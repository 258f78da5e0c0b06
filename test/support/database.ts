import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { loadTravelTypes } from "../../src/rides/index.ts";
import { withDatabase } from "./global-setup.ts";

export type TestDatabase = { url: string; pool: pg.Pool; drop: () => Promise<void> };

/**
 * A database of this test file's own, cloned from the migrated template. With travelTypes,
 * the travel types readRides checks rides against are loaded from it, as the service does at start.
 */
export async function createTestDatabase({ travelTypes = false } = {}): Promise<TestDatabase> {
  const serverUrl = inject("serverUrl");
  const name = `rides_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${inject("templateDatabase")}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(serverUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on("error", () => {});
  const database: TestDatabase = {
    url,
    pool,
    async drop() {
      await pool.end();
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
  // A set-up that fails here never gets the database to drop it in its afterAll.
  if (travelTypes) await loadTravelTypes(pool).catch(async (error) => {
    await database.drop();
    throw error;
  });
  return database;
}
