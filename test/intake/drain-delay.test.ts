import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { getJson, post, ride, startTestService } from "../support/service.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

it("from stop() on, /readyz answers 503 for DRAIN_DELAY_MS while rides are still taken; then the listener closes", async () => {
  const service = await startTestService(db.url, { DRAIN_DELAY_MS: "1500" });
  expect((await getJson(service.url, "/readyz")).status).toBe(200);
  const stopped = service.stop();
  const ready = await getJson(service.url, "/readyz");
  expect(ready).toMatchObject({ status: 503, body: { status: "not ready", checks: { accepting: false, database: true } } });
  // A load balancer that has not seen the 503 yet may still send: the ride is taken.
  expect((await post(service.url, JSON.stringify(ride({ id: 1800 })), "application/json")).status).toBe(202);
  await stopped;
  await expect(fetch(`${service.url}/healthz`)).rejects.toThrow();
});
