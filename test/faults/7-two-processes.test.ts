import { afterAll, expect, inject, it } from "vitest";
import { expectRollupsToMatchRides } from "../support/rollups.ts";
import { startCluster } from "./support/cluster.ts";
import { cleanUp } from "./support/clean-up.ts";
import { report, settle, startLoad } from "./support/load.ts";
import { allOutput, LEAK, startServiceProcess } from "./support/service-process.ts";

afterAll(cleanUp);

// Every write to rides, recorded by the database itself: a ride moved twice shows up twice.
const AUDIT_WRITES = `
CREATE TABLE ride_writes (id bigint NOT NULL, job_id bigint NOT NULL, op text NOT NULL);
CREATE FUNCTION record_ride_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO ride_writes VALUES (NEW.id, NEW.job_id, TG_OP); RETURN NEW; END $$;
CREATE TRIGGER record_ride_write AFTER INSERT OR UPDATE ON rides FOR EACH ROW EXECUTE FUNCTION record_ride_write();`;

it("fault 7: two processes on one database under load, one SIGKILLed: every 202 stored exactly once, no job moved twice", async () => {
  const cluster = await startCluster({ pgbouncer: inject("faultsThroughPgBouncer") === true });
  await cluster.pool.query(AUDIT_WRITES);
  const [a, b] = [await startServiceProcess(cluster.url, { env: cluster.serviceEnv }), await startServiceProcess(cluster.url, { env: cluster.serviceEnv })];
  const loadA = startLoad(a.url, { firstId: 7_000_000, senders: 3 });
  const loadB = startLoad(b.url, { firstId: 7_500_000, senders: 3 });
  await Promise.all([loadA.moreAcks(100), loadB.moreAcks(100)]);

  a.child.kill("SIGKILL");
  await a.exited;
  await loadB.moreAcks(100);
  const sent = [...(await loadA.stop()), ...(await loadB.stop())];

  const outcome = await settle(b.url, cluster.pool, sent);
  report("fault 7: two processes, one SIGKILLed", outcome);
  expect(outcome).toMatchObject({ lost: 0, failed: 0, queued: 0, missingFromDone: 0, duplicated: 0 });
  expect(outcome.stored).toBe(outcome.acknowledged);
  expect(outcome.storedUnacknowledged).toBe(outcome.storedFromUnanswered);

  const writes = await cluster.pool.query<{ op: string; rides: number; once: number }>(
    "SELECT op, count(*)::int AS rides, count(DISTINCT id)::int AS once FROM ride_writes GROUP BY op",
  );
  const acknowledgedIds = sent.filter((s) => s.status === 202).flatMap((s) => s.ids);
  console.log(`[fault 7] writes to rides recorded by trigger: ${JSON.stringify(writes.rows)}; acknowledged rides ${acknowledgedIds.length}`);
  expect(writes.rows.filter((row) => row.op !== "INSERT")).toEqual([]);
  const inserts = writes.rows[0];
  expect(inserts.rides).toBe(inserts.once);
  expect(inserts.rides).toBe(outcome.acknowledged + outcome.storedUnacknowledged);
  // Each ride was written by the job that acknowledged it.
  const jobOf = new Map(sent.filter((s) => s.status === 202).flatMap((s) => s.ids.map((id) => [id, s.jobId!] as const)));
  const written = await cluster.pool.query<{ id: number; job_id: number }>("SELECT id, job_id FROM ride_writes");
  expect(written.rows.filter((row) => jobOf.has(row.id) && jobOf.get(row.id) !== row.job_id)).toEqual([]);
  await expectRollupsToMatchRides(cluster.pool);
  expect(allOutput()).not.toMatch(LEAK);
});
