import { afterAll, beforeAll, expect, it } from "vitest";
import { monthsBefore, monthStart } from "../../src/mover/partitions.ts";
import { monthIn } from "../../src/rides/time.ts";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { post, ride, startTestService, waitForJob } from "../support/service.ts";

const ZONE = "Asia/Kolkata";
let db: TestDatabase;
let service: Service;
beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url, { RIDES_RETENTION_MONTHS: "1" });
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

const thisMonth = monthIn(Date.now(), ZONE);
const oldMonth = monthsBefore(thisMonth, 3);
/** The 10th of a month at noon, with its booking an hour before. */
const rideIn = (month: string, id: number) => {
  const at = new Date(monthStart(month, ZONE).getTime() + 9.5 * 86_400_000);
  return ride({ id, from_date: at.toISOString(), booking_created: new Date(at.getTime() - 3_600_000).toISOString() });
};
const query = (measures: string[], month: string) =>
  post(
    service.url,
    JSON.stringify({ measures, time: { from: monthStart(month, ZONE).toISOString(), to: monthStart(monthsBefore(month, -1), ZONE).toISOString() } }),
    "application/json",
    "/v1/query",
  );

it("RIDES_RETENTION_MONTHS drops whole months, refuses their rides one by one, and answers for them from the rollups only", async () => {
  const sent = await post(service.url, JSON.stringify([rideIn(oldMonth, 890_001), rideIn(thisMonth, 890_002)]), "application/json");
  expect((await waitForJob(service.url, sent.body.job_id)).status).toBe("done");
  expect((await query(["count"], oldMonth)).body.rows).toEqual([[1]]);

  const report = await service.pruner.prune();
  expect(report.ridesPartitions).toBe(1);
  const months = await db.pool.query<{ name: string }>("SELECT relname AS name FROM pg_class WHERE relname ~ '^rides_[0-9]{4}_[0-9]{2}$' ORDER BY 1");
  expect(months.rows.map((row) => row.name)).toEqual([`rides_${thisMonth.replace("-", "_")}`]);

  const mixed = await post(service.url, JSON.stringify([rideIn(oldMonth, 890_003), rideIn(thisMonth, 890_004)]), "application/json");
  expect(mixed.status).toBe(202);
  expect(mixed.body.accepted).toBe(1);
  expect(mixed.body.rejected).toEqual([
    {
      index: 0,
      id: 890_003,
      errors: [
        {
          path: "from_date",
          message: `is before ${monthStart(monthsBefore(thisMonth, 1), ZONE).toISOString()}: the rides of that month were dropped (RIDES_RETENTION_MONTHS) and are no longer taken`,
        },
      ],
    },
  ]);
  expect((await waitForJob(service.url, mixed.body.job_id)).status).toBe("done");

  // The rollups keep the dropped month; a question only raw rides answer gets a 422 naming why.
  const fromRollup = await query(["count"], oldMonth);
  expect([fromRollup.status, fromRollup.body.source, fromRollup.body.rows]).toEqual([200, "rollup", [[1]]]);
  const raw = await query(["distinct_users"], oldMonth);
  expect(raw.status).toBe(422);
  expect(raw.body.detail).toMatch(/needs raw rides .* were dropped \(RIDES_RETENTION_MONTHS\)/);
  const rawKept = await query(["distinct_users"], thisMonth);
  expect([rawKept.status, rawKept.body.source, rawKept.body.rows]).toEqual([200, "rides", [[1]]]);
});
