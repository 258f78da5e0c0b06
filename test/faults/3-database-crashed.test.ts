import { afterEach, describe, expect, it } from "vitest";
import { holdMover } from "../support/locks.ts";
import { expectRollupsToMatchRides } from "../support/rollups.ts";
import { startCluster } from "./support/cluster.ts";
import { cleanUp } from "./support/clean-up.ts";
import { report, settle, startLoad } from "./support/load.ts";
import { allOutput, LEAK, startServiceProcess } from "./support/service-process.ts";

afterEach(cleanUp);

/** Load, crash the postmaster (crash recovery follows on restart), more load, then count every ride. */
async function crashUnderLoad(durability: "unlogged" | "logged", signal: "SIGQUIT" | "SIGKILL", firstId: number) {
  const cluster = await startCluster({ durability });
  const service = await startServiceProcess(cluster.url, { env: { STAGING_DURABILITY: durability } });
  const load = startLoad(service.url, { firstId });
  await load.moreAcks(100);
  // Acknowledged rides are certainly still staged when the crash comes; the crash ends the lock.
  const releaseMover = await holdMover(cluster.url);
  await load.moreAcks(50);
  const staged = (await cluster.pool.query("SELECT count(*)::int AS n FROM staging")).rows[0].n as number;
  await cluster.shutDown(signal);
  await releaseMover().catch(() => {});
  await cluster.start();
  await load.moreAcks(100, 90_000);
  const sent = await load.stop();
  const outcome = await settle(service.url, cluster.pool, sent);
  const jobs = await cluster.pool.query<{ status: string; n: number }>(
    "SELECT status, count(*)::int AS n FROM jobs GROUP BY status ORDER BY status",
  );
  return { outcome, staged, service, cluster, jobStatuses: Object.fromEntries(jobs.rows.map((row) => [row.status, row.n])) };
}

describe("fault 3: PostgreSQL crashed under load", () => {
  it("UNLOGGED staging (immediate shutdown): every acknowledged job ends done with its rides, or lost; none stays queued", async () => {
    const { outcome, staged, service, cluster, jobStatuses } = await crashUnderLoad("unlogged", "SIGQUIT", 3_000_000);
    report("fault 3: PostgreSQL immediate shutdown, unlogged staging", outcome);
    console.log(`[fault 3 unlogged] ${staged} jobs staged at the crash; job statuses after ${JSON.stringify(jobStatuses)}`);
    expect(staged).toBeGreaterThanOrEqual(50);
    expect(outcome.lost).toBeGreaterThanOrEqual(staged * 20);
    expect(outcome).toMatchObject({ queued: 0, failed: 0, missingFromDone: 0, duplicated: 0, storedUnacknowledged: 0 });
    expect(outcome.stored + outcome.lost).toBe(outcome.acknowledged);
    await expectRollupsToMatchRides(cluster.pool);
    expect(service.child.exitCode).toBeNull();
    expect(allOutput()).not.toMatch(LEAK);
  });

  it("STAGING_DURABILITY=logged (postmaster SIGKILLed): nothing acknowledged is lost", async () => {
    const { outcome, staged, service, cluster, jobStatuses } = await crashUnderLoad("logged", "SIGKILL", 3_500_000);
    report("fault 3: PostgreSQL postmaster SIGKILL, logged staging", outcome);
    console.log(`[fault 3 logged] ${staged} jobs staged at the crash; job statuses after ${JSON.stringify(jobStatuses)}`);
    expect(staged).toBeGreaterThanOrEqual(50);
    expect(outcome).toMatchObject({ lost: 0, queued: 0, failed: 0, missingFromDone: 0, duplicated: 0, storedUnacknowledged: 0 });
    await expectRollupsToMatchRides(cluster.pool);
    expect(outcome.stored).toBe(outcome.acknowledged);
    expect(service.child.exitCode).toBeNull();
    expect(allOutput()).not.toMatch(LEAK);
  });
});
