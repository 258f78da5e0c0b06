import { afterAll, expect, it } from "vitest";
import { expectRollupsToMatchRides } from "../support/rollups.ts";
import { startCluster, until } from "../faults/support/cluster.ts";
import { cleanUp } from "../faults/support/clean-up.ts";
import { report, settle, startLoad } from "../faults/support/load.ts";
import { allOutput, LEAK, startServiceProcess } from "../faults/support/service-process.ts";
import { type HaProxy, startHaProxy } from "./support/haproxy.ts";

let haproxy: HaProxy | undefined;
afterAll(async () => {
  await haproxy?.stop();
  await cleanUp();
});

// Longer than deploy/haproxy.cfg's checks need to take a replica out (inter 500 ms × fall 2).
const DRAIN_DELAY_MS = 3_000;

it("three replicas behind HAProxy under load, one SIGKILLed and one SIGTERMed: every 202 stored once, no other answer, no request sent to the closing replica", async () => {
  const cluster = await startCluster({ pgbouncer: true });
  const env = { ...cluster.serviceEnv, DRAIN_DELAY_MS: String(DRAIN_DELAY_MS) };
  const replicas = await Promise.all([1, 2, 3].map(() => startServiceProcess(cluster.url, { env })));
  haproxy = await startHaProxy(replicas.map((replica) => replica.port));
  const balancer = haproxy;
  const statuses = async () => Object.values(await balancer.servers()).map((server) => server.status);
  await until("HAProxy to see every replica up", async () => (await statuses()).join() === "UP,UP,UP", 20_000);

  // The load runs on while a replica drains (DRAIN_DELAY_MS): in one CI run it reached the default cap of 3,000 requests before the drain ended.
  const load = startLoad(balancer.url, { firstId: 14_000_000, senders: 6, idempotencyKeys: true, maxRequests: 20_000 });
  await load.moreAcks(100);
  const [killed, stopped, survivor] = replicas;
  killed.child.kill("SIGKILL");
  await killed.exited;
  await load.moreAcks(100);

  stopped.child.kill("SIGTERM");
  await until("HAProxy to take the draining replica out", async () => (await balancer.servers())["rides-2"].status !== "UP", DRAIN_DELAY_MS);
  // Out of the balancer while its listener still answers: nothing new is sent to a closing port.
  expect((await fetch(`${stopped.url}/healthz`)).status).toBe(200);
  expect(await stopped.exited).toBe(0);
  await load.moreAcks(100);
  const sent = await load.stop();

  const outcome = await settle(survivor.url, cluster.pool, sent);
  report("scale-out: 3 replicas behind HAProxy, one SIGKILLed, one SIGTERMed", outcome);
  const servers = await balancer.servers();
  console.log(`[scale-out] HAProxy per replica: ${JSON.stringify(servers)}`);
  // The draining replica never had to turn a request away.
  expect(servers["rides-2"].responses5xx).toBe(0);
  // HAProxy sends a request that died with its replica again (its Idempotency-Key makes that safe): every answer is a 202.
  expect(outcome.answers).toEqual({ 202: sent.length });
  expect(outcome).toMatchObject({ lost: 0, failed: 0, queued: 0, missingFromDone: 0, duplicated: 0, storedUnacknowledged: 0 });
  expect(outcome.stored).toBe(outcome.acknowledged);
  await expectRollupsToMatchRides(cluster.pool);
  expect(allOutput()).not.toMatch(LEAK);
});
