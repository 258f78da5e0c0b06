import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, migrationsApplied } from "../../src/db/migrate.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

const persistence = async () =>
  (await db.pool.query("SELECT relpersistence FROM pg_class WHERE oid = 'staging'::regclass")).rows[0].relpersistence;

describe("migrations", () => {
  it("are safe to run again, concurrently, and switch staging durability", async () => {
    await Promise.all([applyMigrations(db.url, "unlogged"), applyMigrations(db.url, "unlogged")]);
    expect(await migrationsApplied(db.pool)).toBe(true);
    expect(await persistence()).toBe("u");
    await applyMigrations(db.url, "logged");
    expect(await persistence()).toBe("p");
    await applyMigrations(db.url, "unlogged");
    expect(await persistence()).toBe("u");
  });

  it("leave rides partitioned by from_date with its primary key", async () => {
    const { rows } = await db.pool.query(
      "SELECT pg_get_partkeydef('rides'::regclass) AS key, (SELECT conname FROM pg_constraint WHERE conrelid = 'rides'::regclass AND contype = 'p') AS pk",
    );
    expect(rows[0]).toEqual({ key: "RANGE (from_date)", pk: "rides_id_from_date_pk" });
  });
});
