import { createServer, type Socket } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { until } from "../faults/support/cluster.ts";
import { cleanUp } from "../faults/support/clean-up.ts";
import { allOutput, LEAK, type ServiceProcess, startServiceProcess } from "../faults/support/service-process.ts";
import { post, ride } from "../support/service.ts";
import { startPrimaryAndStandby } from "./support/postgres-15.ts";

// booking_created has no rollup: the count is read from rides on the analytics database.
const COUNT = JSON.stringify({
  measures: ["count"],
  time: { from: "2013-01-01T00:00:00+05:30", to: "2014-01-01T00:00:00+05:30", tz: "Asia/Kolkata", field: "booking_created" },
});
const CONNECT_TIMEOUT_MS = 1_000;

let pair: Awaited<ReturnType<typeof startPrimaryAndStandby>>;
let service: ServiceProcess;
let standbyAdmin: pg.Pool;
let nextId = 1;

const ask = () => post(service.url, COUNT, "application/json", "/v1/query");
const count = async () => {
  const { status, body } = await ask();
  return status === 200 ? (body.rows[0][0] as number) : undefined;
};
const lag = async () => Number(/^analytics_replication_lag_seconds (\S+)$/m.exec(await (await fetch(`${service.url}/metrics`)).text())?.[1]);
const store = async (rides: number, overrides: Record<string, unknown> = {}) => {
  const body = JSON.stringify(Array.from({ length: rides }, () => ride({ id: nextId++, ...overrides })));
  const answer = await post(service.url, body, "application/json", "/v1/rides?wait=stored");
  expect(answer.status).toBe(200);
};

beforeAll(async () => {
  // A replayed lock waits at most this long for a standby query before cancelling it.
  pair = await startPrimaryAndStandby({ standbySettings: ["max_standby_streaming_delay=500ms"] });
  service = await startServiceProcess(pair.primary.url, {
    env: { ANALYTICS_DATABASE_URL: pair.standby.url, ANALYTICS_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS) },
  });
  standbyAdmin = new pg.Pool({ connectionString: pair.standby.url, max: 1 });
  standbyAdmin.on("error", () => {});
});
afterAll(async () => {
  await standbyAdmin?.end();
  await cleanUp();
  await pair?.stop();
});

it("queries are answered from the standby, and catch up with the primary within the lag that analytics_replication_lag_seconds shows", async () => {
  await store(10);
  await until("the standby to answer 10", async () => (await count()) === 10, 10_000);
  await until("no lag once all is replayed", async () => (await lag()) === 0, 10_000);

  await standbyAdmin.query("SELECT pg_wal_replay_pause()");
  await store(5);
  // Stored on the primary; the standby has received it but not replayed it.
  await until("the lag to show", async () => (await lag()) > 0, 10_000);
  expect(await count()).toBe(10);

  await standbyAdmin.query("SELECT pg_wal_replay_resume()");
  await until("the standby to catch up", async () => (await count()) === 15, 10_000);
  await until("the lag to go back to 0", async () => (await lag()) === 0, 10_000);
});

it("a standby that is down, or accepts and never answers, gets 503 + Retry-After within the connect timeout; intake goes on", async () => {
  await pair.standby.stop();
  const refused = Date.now();
  const down = await ask();
  expect(down.status).toBe(503);
  expect(down.headers.get("retry-after")).toMatch(/^\d+$/);
  expect(down.body.detail).toBe("the analytics database is unavailable or cancelled the read; retry later");
  expect(Date.now() - refused).toBeLessThan(CONNECT_TIMEOUT_MS + 4_000);
  await store(1);

  // A standby that hangs: something holds its port and never speaks.
  const sockets: Socket[] = [];
  const silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(pair.standby.port, "127.0.0.1", resolve));
  try {
    const started = Date.now();
    const hung = await ask();
    expect(hung.status).toBe(503);
    expect(hung.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
    expect(Date.now() - started).toBeLessThan(CONNECT_TIMEOUT_MS + 4_000);
    await store(1);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }

  await pair.standby.start();
  await until("the standby to answer again", async () => (await count()) === 17, 20_000);
});

it("a query the standby cancels for a conflict with replay gets 503 + Retry-After", async () => {
  await store(1, { from_date: "2013-02-01T02:00:00+05:30", booking_created: "2013-02-01T01:39:00+05:30" });
  await until("the standby to answer 18", async () => (await count()) === 18, 10_000);
  const primary = [new pg.Client({ connectionString: pair.primary.url }), new pg.Client({ connectionString: pair.primary.url })];
  for (const client of primary) await client.connect();
  try {
    // The replayed lock on February makes the query wait there, holding January's lock...
    await primary[0].query("BEGIN; LOCK TABLE rides_2013_02 IN ACCESS EXCLUSIVE MODE; SELECT pg_switch_wal()");
    await until("the replayed lock to be held on the standby", async () => {
      const { rows } = await standbyAdmin.query("SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'rides_2013_02'::regclass AND mode = 'AccessExclusiveLock'");
      return rows[0].n > 0;
    });
    const answer = ask();
    await until("the query to wait on the replayed lock", async () => {
      const { rows } = await standbyAdmin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%booking_created%'");
      return rows[0].n > 0;
    });
    // ...which replay then needs: after max_standby_streaming_delay the standby cancels the query.
    await primary[1].query("BEGIN; LOCK TABLE rides_2013_01 IN ACCESS EXCLUSIVE MODE; SELECT pg_switch_wal()");
    const cancelled = await answer;
    expect(cancelled.status).toBe(503);
    expect(cancelled.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(cancelled.body.detail).toBe("the analytics database is unavailable or cancelled the read; retry later");
  } finally {
    for (const client of primary) await client.end();
  }
  await until("the standby to answer again", async () => (await count()) === 18, 10_000);
  expect(allOutput()).not.toMatch(LEAK);
});
