import { afterAll, expect, it } from "vitest";
import { holdMover } from "../support/locks.ts";
import { ride } from "../support/service.ts";
import { openTestStream, pumpRides } from "../support/stream.ts";
import { startCluster, until } from "./support/cluster.ts";
import { cleanUp } from "./support/clean-up.ts";
import { allOutput, LEAK, startServiceProcess } from "./support/service-process.ts";

afterAll(cleanUp);

it("fault 8: the service SIGKILLed mid-stream and restarted: every acknowledged ride is stored", async () => {
  const cluster = await startCluster();
  let service = await startServiceProcess(cluster.url);
  const stream = await openTestStream(service.url);
  const ids = Array.from({ length: 20_000 }, (_, i) => 8_000_000 + i);
  const sent = pumpRides(stream, ids, ride);
  await stream.until(() => stream.acks().length >= 1_000, 60_000);
  // Part of the acknowledged rides are still staged when the process dies.
  const releaseMover = await holdMover(cluster.url);
  await stream.until(() => stream.acks().length >= 3_000, 60_000);

  service.child.kill("SIGKILL");
  const closed = await stream.closed;
  await service.exited;
  const staged = (await cluster.pool.query("SELECT count(*)::int AS n FROM staging")).rows[0].n;
  await releaseMover();
  const acks = stream.acks();
  const ackedIds = acks.map((ack) => ids[ack.seq]);
  const ackedJobs = acks.map((ack) => ack.job_id);

  service = await startServiceProcess(cluster.url, { port: service.port });
  await until("every acknowledged job to leave queued", async () => {
    const { rows } = await cluster.pool.query("SELECT count(*)::int AS n FROM jobs WHERE status = 'queued' AND id = ANY($1)", [ackedJobs]);
    return rows[0].n === 0;
  }, 120_000);
  const { rows: statuses } = await cluster.pool.query("SELECT status, count(*)::int AS n FROM jobs WHERE id = ANY($1) GROUP BY status", [ackedJobs]);
  const { rows: stored } = await cluster.pool.query("SELECT count(DISTINCT id)::int AS n, count(*)::int AS copies FROM rides WHERE id = ANY($1)", [ackedIds]);
  console.log(
    `[fault 8: stream SIGKILL] ${sent()} frames sent, ${acks.length} acknowledged (${staged} jobs still staged at the kill), ` +
      `close ${closed.code}; acknowledged jobs ${JSON.stringify(statuses)}; acknowledged rides stored ${stored[0].n}`,
  );
  expect(closed.code).toBe(1006);
  expect(staged).toBeGreaterThan(0);
  expect(acks.map((ack) => ack.seq)).toEqual(acks.map((_, i) => i));
  expect(statuses).toEqual([{ status: "done", n: acks.length }]);
  expect(stored[0]).toEqual({ n: acks.length, copies: acks.length });
  expect(allOutput()).not.toMatch(LEAK);
});
