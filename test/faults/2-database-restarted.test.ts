import { afterAll, expect, it } from "vitest";
import { startCluster } from "./support/cluster.ts";
import { cleanUp } from "./support/clean-up.ts";
import { countAnswers, report, settle, startLoad } from "./support/load.ts";
import { allOutput, LEAK, startServiceProcess } from "./support/service-process.ts";

afterAll(cleanUp);

/** Far above the pool's 5 s connection timeout: a request must be answered, not hang. */
const ANSWER_BOUND_MS = 15_000;

it("fault 2: PostgreSQL restarted (fast shutdown) under load: 503 + Retry-After while down, reconnects, every 202 stored", async () => {
  const cluster = await startCluster();
  const service = await startServiceProcess(cluster.url);
  const load = startLoad(service.url, { firstId: 2_000_000 });
  await load.moreAcks(100);

  await cluster.shutDown("SIGINT");
  const downAt = Date.now();
  // Long enough for several requests per sender to hit the database while it is down.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const upAt = Date.now();
  await cluster.start();
  await load.moreAcks(100, 90_000).catch((error) => {
    throw new Error(`${error.message}\nservice output:\n${service.output().slice(-3000)}`);
  });
  const sent = await load.stop();

  // Requests sent once the postmaster had exited and answered before it was back.
  const whileDown = sent.filter((s) => s.at > downAt && s.at + s.ms < upAt);
  const outcome = await settle(service.url, cluster.pool, sent);
  report("fault 2: PostgreSQL fast restart", outcome);
  console.log(`[fault 2] while down: ${whileDown.length} requests, answers ${JSON.stringify(countAnswers(whileDown))}, slowest ${Math.max(...sent.map((s) => s.ms))} ms`);

  expect(whileDown.length).toBeGreaterThan(0);
  for (const s of whileDown) expect([s.status, s.retryAfter]).toEqual([503, "2"]);
  // A statement whose connection the shutdown broke before it answered is 502 "outcome unknown": never a 503.
  expect(Object.keys(outcome.answers).filter((status) => status !== "502").sort()).toEqual(["202", "503"]);
  expect(Math.max(...sent.map((s) => s.ms))).toBeLessThan(ANSWER_BOUND_MS);
  expect(outcome).toMatchObject({ lost: 0, failed: 0, queued: 0, missingFromDone: 0, duplicated: 0, storedUnacknowledged: 0 });
  expect(outcome.stored).toBe(outcome.acknowledged);
  expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
  expect(service.child.exitCode).toBeNull();
  expect(allOutput()).not.toMatch(LEAK);
});
