import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadConfig, SETTINGS } from "../src/config.ts";

describe("config", () => {
  it("documents every setting in README's configuration table", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const documented = [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((match) => match[1]);
    expect(SETTINGS.length).toBeGreaterThan(20);
    expect(SETTINGS.filter((name) => !documented.includes(name))).toEqual([]);
  });

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
    expect(() => loadConfig({ RIDES_TIME_ZONE: "+05:30" })).toThrowError(/RIDES_TIME_ZONE must be an IANA time zone/);
  });

  it("refuses a body limit the memory budget could never hold (it would be a 503 forever, not a 413)", () => {
    expect(loadConfig({})).toMatchObject({ bodyLimitBytes: 8 * 1024 * 1024, intakeMemoryBudgetBytes: 16 * 1024 * 1024, headersTimeoutMs: 10_000, bodyTimeoutMs: 60_000 });
    expect(() => loadConfig({ INTAKE_MEMORY_BUDGET_BYTES: "1000000" })).toThrowError(
      /BODY_LIMIT_BYTES=8388608 must not exceed INTAKE_MEMORY_BUDGET_BYTES=1000000/,
    );
    expect(loadConfig({ INTAKE_MEMORY_BUDGET_BYTES: "1000000", BODY_LIMIT_BYTES: "1000000" }).intakeMemoryBudgetBytes).toBe(1_000_000);
  });

  it("refuses a wait for room in the budget that Node would cut off as a body timeout", () => {
    expect(loadConfig({}).intakeBudgetWaitMs).toBe(0);
    expect(loadConfig({ INTAKE_BUDGET_WAIT_MS: "5000" }).intakeBudgetWaitMs).toBe(5_000);
    expect(() => loadConfig({ INTAKE_BUDGET_WAIT_MS: "60000" })).toThrowError(/INTAKE_BUDGET_WAIT_MS=60000 must be less than BODY_TIMEOUT_MS=60000/);
  });
});

describe("database URLs", () => {
  it("takes DIRECT_DATABASE_URL and ANALYTICS_DATABASE_URL beside DATABASE_URL, each checked", () => {
    const urls = {
      DATABASE_URL: "postgres://rides@127.0.0.1:6432/rides",
      DIRECT_DATABASE_URL: "postgres://rides@127.0.0.1:5432/rides",
      ANALYTICS_DATABASE_URL: "postgresql://rides@standby:5432/rides",
    };
    expect(loadConfig(urls)).toMatchObject({
      databaseUrl: urls.DATABASE_URL,
      directDatabaseUrl: urls.DIRECT_DATABASE_URL,
      analyticsDatabaseUrl: urls.ANALYTICS_DATABASE_URL,
    });
    expect(() => loadConfig({ ...urls, DIRECT_DATABASE_URL: "pgbouncer:6432", ANALYTICS_DATABASE_URL: "http://x" })).toThrowError(
      /DIRECT_DATABASE_URL must be a postgres:\/\/ URL\n {2}- ANALYTICS_DATABASE_URL must be a postgres:\/\/ URL/,
    );
    expect(() => loadConfig({ ANALYTICS_DATABASE_URL: urls.ANALYTICS_DATABASE_URL })).toThrowError(/need DATABASE_URL/);
    expect(() => loadConfig({ ANALYTICS_POOL_SIZE: "0" })).toThrowError(/ANALYTICS_POOL_SIZE must be at least 1/);
  });
});

describe("API_KEYS", () => {
  it("reads secret:scopes entries, a bare secret having every scope", () => {
    expect(loadConfig({ API_KEYS: "k3y-for-xrides-producer:ingest, k3y-for-analysts:read,k3y-for-everything-else" }).apiKeys).toEqual([
      { secret: "k3y-for-xrides-producer", scopes: ["ingest"] },
      { secret: "k3y-for-analysts", scopes: ["read"] },
      { secret: "k3y-for-everything-else", scopes: ["ingest", "read"] },
    ]);
    expect(loadConfig({ API_KEYS: "k3y-for-both-scopes:read+ingest" }).apiKeys[0].scopes).toEqual(["read", "ingest"]);
  });

  it("fails fast on a bad entry without printing its secret", () => {
    expect(() => loadConfig({ API_KEYS: "k3y-for-analysts:write" })).toThrowError(
      /API_KEYS entry 1: scopes must be ingest, read joined by \+/,
    );
    expect(() => loadConfig({ API_KEYS: "k3y-for-analysts,short-s3cret" })).toThrowError(
      /API_KEYS entry 2: the secret must be at least 16 printable characters/,
    );
    try {
      loadConfig({ API_KEYS: "short-s3cret:read" });
    } catch (error) {
      expect((error as Error).message).not.toContain("short-s3cret");
    }
  });

  it("refuses to listen beyond loopback without keys, and allows it with them", () => {
    expect(() => loadConfig({ HOST: "0.0.0.0" })).toThrowError(/HOST=0.0.0.0 would serve rides to anyone without a key: set API_KEYS/);
    expect(() => loadConfig({ HOST: "::" })).toThrowError(/HOST=:: would serve/);
    for (const host of ["127.0.0.1", "::1", "localhost", "127.0.0.2"]) expect(loadConfig({ HOST: host }).host).toBe(host);
    expect(loadConfig({ HOST: "0.0.0.0", API_KEYS: "k3y-for-xrides-producer" }).host).toBe("0.0.0.0");
  });
});
