import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { STAGE_JOBS } from "../../src/jobs/store.ts";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { post, ride, startTestService } from "../support/service.ts";

let db: TestDatabase;
let proxy: Server;
let service: Service;
const connections = new Set<Socket>();

/** The service reaches PostgreSQL through this TCP relay, so a test can break its connections mid-statement. */
async function startRelay(databaseUrl: string): Promise<string> {
  const target = new URL(databaseUrl);
  proxy = createServer((client) => {
    const server = connect({ host: target.hostname, port: Number(target.port || 5432) });
    for (const socket of [client, server]) {
      connections.add(socket);
      socket.on("close", () => connections.delete(socket));
      socket.on("error", () => {});
    }
    client.pipe(server).pipe(client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const relayed = new URL(databaseUrl);
  relayed.hostname = "127.0.0.1";
  relayed.port = String((proxy.address() as AddressInfo).port);
  return relayed.toString();
}

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(await startRelay(db.url));
});
afterAll(async () => {
  await service?.stop();
  for (const socket of connections) socket.destroy();
  await new Promise((resolve) => proxy?.close(resolve));
  await db?.drop();
});

describe("a connection that breaks while the rides are being committed", () => {
  it("is answered 502 'outcome unknown', never a 503, and the same Idempotency-Key then finds the job", async () => {
    const body = JSON.stringify(ride({ id: 750001 }));
    const key = { "idempotency-key": "broken-commit-1" };
    // Another transaction holds jobs: the staging statement waits in the database.
    const blocker = await db.pool.connect();
    await blocker.query("BEGIN");
    await blocker.query("LOCK TABLE jobs IN SHARE MODE");
    let answer: Awaited<ReturnType<typeof post>>;
    try {
      const sent = post(service.url, body, "application/json", "/v1/rides", key);
      await vi.waitFor(
        async () => {
          const { rows } = await db.pool.query(
            // pg_stat_activity keeps the start of a long statement's text.
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND strpos($1, query) = 1",
            [STAGE_JOBS],
          );
          expect(rows).toHaveLength(1);
        },
        { timeout: 10_000 },
      );
      for (const socket of connections) socket.destroy();
      answer = await sent;
    } finally {
      // PostgreSQL did not notice the client go while it waited: once let go, the statement commits.
      await blocker.query("COMMIT");
      blocker.release();
    }
    expect([answer.status, answer.body.outcome, answer.headers.get("content-type")]).toEqual([502, "unknown", "application/problem+json"]);
    expect(answer.body.detail).toMatch(/may or may not have been taken\. Send the request again with the same Idempotency-Key/);
    await vi.waitFor(async () => expect((await db.pool.query("SELECT job_id AS id FROM idempotency_keys WHERE key = 'broken-commit-1'")).rows).toHaveLength(1), { timeout: 10_000 });
    const job = (await db.pool.query("SELECT job_id AS id FROM idempotency_keys WHERE key = 'broken-commit-1'")).rows[0].id;

    const again = await post(service.url, body, "application/json", "/v1/rides", key);
    expect([again.status, again.body.job_id, again.headers.get("idempotent-replayed")]).toEqual([202, job, "true"]);
  });
});
