import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { freePort } from "../../src/db/embedded.ts";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { post, ride, startTestService } from "../support/service.ts";

// distinct_users has no rollup: every such query reads rides.
const HEAVY = JSON.stringify({
  measures: ["distinct_users"],
  time: { from: "2013-01-01T00:00:00+05:30", to: "2014-01-01T00:00:00+05:30", tz: "Asia/Kolkata" },
});
const ask = (url: string) => post(url, HEAVY, "application/json", "/v1/query");

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

describe("analytics never starves intake", () => {
  let service: Service;
  afterAll(() => service?.stop());

  it("12 heavy queries at once: 4 run, 4 wait, 4 get 429 + Retry-After, and single-ride POSTs are acknowledged meanwhile", async () => {
    // Longer than the test, so the queries stay blocked until the lock is let go.
    service = await startTestService(db.url, { ANALYTICS_POOL_SIZE: "4", QUERY_QUEUE_LIMIT: "4", QUERY_TIMEOUT_MS: "60000" });
    // The queries' stand-in for a heavy read: they hold their connections as long as the test holds this lock.
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE rides IN ACCESS EXCLUSIVE MODE");
    try {
      const queries = Array.from({ length: 12 }, () => ask(service.url));
      await vi.waitFor(
        async () => {
          const { rows } = await db.pool.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%count(DISTINCT%'",
          );
          expect(rows[0].n).toBe(4);
        },
        { timeout: 10_000, interval: 50 },
      );

      // Seven senders while every analytics connection is held: the intake pool is its own.
      const posts = await Promise.all(
        Array.from({ length: 7 }, (_, i) => post(service.url, JSON.stringify(ride({ id: 1600 + i })), "application/json")),
      );
      expect(posts.map((p) => p.status)).toEqual(Array(7).fill(202));

      await locker.query("ROLLBACK");
      const answers = await Promise.all(queries);
      const turnedAway = answers.filter((a) => a.status === 429);
      expect(answers.filter((a) => a.status === 200)).toHaveLength(8);
      expect(turnedAway).toHaveLength(4);
      for (const { headers, body } of turnedAway) {
        expect(headers.get("content-type")).toBe("application/problem+json");
        expect(headers.get("retry-after")).toMatch(/^\d+$/);
        expect(body.detail).toMatch(/4 analytics reads are running and 4 are waiting; retry later/);
      }
    } finally {
      await locker.end();
    }
  });
});

describe("ANALYTICS_DATABASE_URL down", () => {
  let service: Service;
  afterAll(() => service?.stop());

  it("a query gets 503 + Retry-After within the connect timeout; intake is untouched", async () => {
    const nobody = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    service = await startTestService(db.url, { ANALYTICS_DATABASE_URL: nobody, ANALYTICS_CONNECT_TIMEOUT_MS: "1000" });
    const answer = await ask(service.url);
    expect(answer.status).toBe(503);
    expect(answer.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(answer.body.detail).toBe("the analytics database is unavailable or cancelled the read; retry later");
    expect((await post(service.url, JSON.stringify(ride({ id: 1700 })), "application/json")).status).toBe(202);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/^analytics_replication_lag_seconds -1$/m);
  });
});
