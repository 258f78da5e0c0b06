import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";

describe("config", () => {
  it("has defaults a laptop can start with", () => {
    expect(loadConfig({})).toMatchObject({
      databaseUrl: undefined,
      host: "127.0.0.1",
      port: 3000,
      timeZone: "Asia/Kolkata",
      stagingDurability: "unlogged",
    });
  });

  it("fails fast naming every bad variable", () => {
    expect(() =>
      loadConfig({ PORT: "http", RIDES_TIME_ZONE: "Moon/Base", DATABASE_URL: "mysql://x", STAGING_DURABILITY: "maybe" }),
    ).toThrowError(
      /Invalid configuration:\n {2}- DATABASE_URL must be a postgres:\/\/ URL\n {2}- PORT must be a number\n {2}- RIDES_TIME_ZONE must be an IANA time zone.*\n {2}- STAGING_DURABILITY must be unlogged or logged/,
    );
    expect(() => loadConfig({ MOVER_CHUNK_ROWS: "0" })).toThrowError(/MOVER_CHUNK_ROWS must be at least 1/);
  });
});
