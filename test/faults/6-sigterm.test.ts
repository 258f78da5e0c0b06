import { existsSync } from "node:fs";
import { request } from "node:http";
import path from "node:path";
import pg from "pg";
import { afterAll, expect, it } from "vitest";
import { ride } from "../support/service.ts";
import { serviceDataDir, startCluster, until } from "./support/cluster.ts";
import { cleanUp } from "./support/clean-up.ts";
import { countAnswers, report, settle, startLoad } from "./support/load.ts";
import { allOutput, LEAK, startServiceProcess, stopServiceProcess } from "./support/service-process.ts";

afterAll(cleanUp);

/** A POST whose body is sent in two halves, so it is surely in flight between them. */
function postInHalves(url: string, body: string) {
  const half = Math.floor(body.length / 2);
  let resolveResponse: (answer: { status: number; body: any }) => void;
  let rejectResponse: (error: Error) => void;
  const response = new Promise<{ status: number; body: any }>((resolve, reject) => {
    resolveResponse = resolve;
    rejectResponse = reject;
  });
  const req = request(`${url}/v1/rides`, {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
  });
  req.on("response", (res) => {
    let text = "";
    res.on("data", (chunk) => (text += chunk));
    res.on("end", () => resolveResponse({ status: res.statusCode!, body: JSON.parse(text) }));
  });
  req.on("error", (error) => rejectResponse(error));
  req.write(body.slice(0, half));
  return { response, finish: () => req.end(body.slice(half)) };
}

const refused = (url: string) =>
  fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5_000) }).then(
    () => false,
    (error) => (error as { cause?: { code?: string } }).cause?.code === "ECONNREFUSED",
  );

it("fault 6: SIGTERM stops taking requests, answers the ones in flight, lets the mover finish, exits 0", async () => {
  const cluster = await startCluster();
  let service = await startServiceProcess(cluster.url);
  const load = startLoad(service.url, { firstId: 6_000_000 });
  await load.moreAcks(100);

  const ids = Array.from({ length: 2_000 }, (_, i) => 6_900_000 + i);
  const inFlightAt = Date.now();
  const inFlight = postInHalves(service.url, JSON.stringify(ids.map((id) => ride({ id }))));
  await new Promise((resolve) => setTimeout(resolve, 200));
  service.child.kill("SIGTERM");
  // New connections are refused while the request above is still being received.
  await until("new connections to be refused", () => refused(service.url), 10_000);
  const refusedAt = Date.now();
  inFlight.finish();
  const answer = await inFlight.response;
  const exitCode = await stopServiceProcess(service);
  const sent = await load.stop();

  // Requests that arrived after that on connections kept alive were turned away, not taken.
  const lateAnswers = sent.filter((s) => s.at > refusedAt).map((s) => s.status);
  expect(lateAnswers.filter((status) => status === 202)).toEqual([]);
  expect(answer.status).toBe(202);
  expect(answer.body).toMatchObject({ status: "queued", accepted: 2_000, rejected: [] });
  expect(exitCode).toBe(0);
  expect(service.output()).toContain("SIGTERM: finishing requests in flight and the mover's current chunk");
  // Nothing the stopped process acknowledged was lost: a new process moves what it left staged.
  sent.push({ ids, status: 202, jobId: answer.body.job_id, ms: 0, at: inFlightAt });
  service = await startServiceProcess(cluster.url, { port: service.port });
  const outcome = await settle(service.url, cluster.pool, sent);
  report("fault 6: SIGTERM", outcome);
  console.log(`[fault 6] requests started after new connections were refused: ${JSON.stringify(countAnswers(sent.filter((s) => s.at > refusedAt)))}`);
  expect(outcome).toMatchObject({ lost: 0, failed: 0, queued: 0, missingFromDone: 0, duplicated: 0 });
  expect(outcome.stored).toBe(outcome.acknowledged);
  expect(outcome.storedUnacknowledged).toBe(outcome.storedFromUnanswered);
  expect(allOutput()).not.toMatch(LEAK);
});

it("fault 6: SIGTERM sent to `npm start` reaches the service, which shuts down cleanly, and npm exits 0", async () => {
  // npm runs a script with sh -c; without exec, sh would take the signal and the service would run on, orphaned.
  const cluster = await startCluster();
  const service = await startServiceProcess(cluster.url, { viaNpm: true });
  const posted = await fetch(`${service.url}/v1/rides`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([ride({ id: 6_990_001 })]),
  });
  expect(posted.status).toBe(202);

  expect(await stopServiceProcess(service)).toBe(0);
  expect(service.output()).toContain("SIGTERM: finishing requests in flight and the mover's current chunk");
  expect(await refused(service.url)).toBe(true);
  // The mover may not have reached the ride before the signal: the next process moves what was left staged.
  await startServiceProcess(cluster.url, { port: service.port });
  await until("the acknowledged ride to be stored", async () => {
    const { rows } = await cluster.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM rides WHERE id = 6990001");
    return rows[0].n === 1;
  });
});

it("fault 6: Ctrl-C at `npm start` on the embedded PostgreSQL: the service finishes before that PostgreSQL stops, and nothing acknowledged is lost", async () => {
  const env = { DATA_DIR: await serviceDataDir() };
  let service = await startServiceProcess(undefined, { viaNpm: true, env });
  const load = startLoad(service.url, { firstId: 6_995_000 });
  await load.moreAcks(50);
  // A terminal's Ctrl-C signals its whole foreground group: npm, the service and, unless it has a group of its own, PostgreSQL.
  process.kill(-service.child.pid!, "SIGINT");
  expect(await service.exited).toBe(0);
  const sent = await load.stop();
  expect(service.output()).toContain("SIGINT: finishing requests in flight and the mover's current chunk");
  expect(service.output()).not.toContain("terminating connection due to administrator command");

  service = await startServiceProcess(undefined, { viaNpm: true, env, port: service.port });
  const embeddedUrl = /started the embedded PostgreSQL in \S+ \((\S+)\)/.exec(service.output())![1];
  const pool = new pg.Pool({ connectionString: embeddedUrl, max: 2 });
  try {
    const outcome = await settle(service.url, pool, sent);
    report("fault 6: Ctrl-C", outcome);
    expect(outcome).toMatchObject({ lost: 0, failed: 0, queued: 0, missingFromDone: 0, duplicated: 0 });
    expect(outcome.stored).toBe(outcome.acknowledged);
  } finally {
    await pool.end();
  }
  expect(await stopServiceProcess(service)).toBe(0);
  expect(allOutput()).not.toMatch(LEAK);
});

it("fault 6: Ctrl-C at `npm start` while it is still starting stops its embedded PostgreSQL too, and the next start works", async () => {
  const env = { DATA_DIR: await serviceDataDir() };
  const starting = await startServiceProcess(undefined, { viaNpm: true, env, startedWhen: "started the embedded PostgreSQL" });
  process.kill(-starting.child.pid!, "SIGINT");
  await starting.exited;
  // A PostgreSQL that stops removes its postmaster.pid; one left running would make the next start fail.
  await until("the embedded PostgreSQL to stop", () => !existsSync(path.join(env.DATA_DIR, "postgres", "postmaster.pid")), 30_000);
  const service = await startServiceProcess(undefined, { viaNpm: true, env, port: starting.port });
  expect(await stopServiceProcess(service)).toBe(0);
});
