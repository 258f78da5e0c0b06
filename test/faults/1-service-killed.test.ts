import { afterAll, expect, inject, it } from "vitest";
import { holdMover } from "../support/locks.ts";
import { expectRollupsToMatchRides } from "../support/rollups.ts";
import { startCluster } from "./support/cluster.ts";
import { cleanUp } from "./support/clean-up.ts";
import { report, settle, startLoad } from "./support/load.ts";
import { allOutput, LEAK, startServiceProcess } from "./support/service-process.ts";

afterAll(cleanUp);

it("fault 1: the service SIGKILLed under load and restarted: every 202 reaches done, rides = the acknowledged rides", async () => {
  const cluster = await startCluster({ pgbouncer: inject("faultsThroughPgBouncer") === true });
  let service = await startServiceProcess(cluster.url, { env: cluster.serviceEnv });
  const load = startLoad(service.url, { firstId: 1_000_000 });
  await load.moreAcks(50);
  // Part of the acknowledged rides are still staged when the process dies.
  const releaseMover = await holdMover(cluster.url);
  await load.moreAcks(50);
  const staged = (await cluster.pool.query("SELECT count(*)::int AS n FROM staging")).rows[0].n;

  service.child.kill("SIGKILL");
  await service.exited;
  await releaseMover();
  service = await startServiceProcess(cluster.url, { port: service.port, env: cluster.serviceEnv });
  await load.moreAcks(100);
  const sent = await load.stop();

  const outcome = await settle(service.url, cluster.pool, sent);
  report("fault 1: service SIGKILL", outcome);
  console.log(`[fault 1] ${staged} jobs were staged and not yet moved when the service was killed`);
  expect(staged).toBeGreaterThanOrEqual(50);
  expect(sent.some((s) => s.status === "error")).toBe(true);
  expect(outcome.acknowledged).toBeGreaterThan(0);
  expect(outcome).toMatchObject({ lost: 0, failed: 0, queued: 0, missingFromDone: 0, duplicated: 0 });
  expect(outcome.stored).toBe(outcome.acknowledged);
  // A request killed between its commit and its 202 may be stored, but never one that got an answer other than 202.
  expect(outcome.storedUnacknowledged).toBe(outcome.storedFromUnanswered);
  expect(Object.keys(outcome.answers).sort()).toEqual(["202", "error"]);
  // The changes the killed process logged are folded by the new one.
  await expectRollupsToMatchRides(cluster.pool);
  expect(allOutput()).not.toMatch(LEAK);
});
