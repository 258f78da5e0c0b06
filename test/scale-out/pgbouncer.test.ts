import pg from "pg";
import { afterAll, expect, it } from "vitest";
import { type Cluster, startCluster, until } from "../faults/support/cluster.ts";
import { cleanUp } from "../faults/support/clean-up.ts";
import { allOutput, LEAK, type ServiceProcess, startServiceProcess } from "../faults/support/service-process.ts";
import { post, ride } from "../support/service.ts";

afterAll(cleanUp);

let cluster: Cluster;
let replicas: ServiceProcess[];

const ready = async (url: string) => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200;

it("three replicas started at once through PgBouncer all get ready (migrations and pg-boss take DIRECT_DATABASE_URL)", async () => {
  cluster = await startCluster({ pgbouncer: true });
  // A short wait: a stored ride answers 200 only if the mover's wake-up came by NOTIFY, not by pg-boss's 2 s poll.
  const env = { ...cluster.serviceEnv, WAIT_STORED_TIMEOUT_MS: "1000" };
  replicas = await Promise.all([1, 2, 3].map(() => startServiceProcess(cluster.url, { env })));
  for (const replica of replicas) await until(`${replica.url} to be ready`, () => ready(replica.url), 30_000);
  // Each replica's pool (its /readyz read) came through PgBouncer.
  const admin = new pg.Client({ connectionString: cluster.bouncer!.adminUrl });
  await admin.connect();
  const clients = (await admin.query("SHOW CLIENTS")).rows.filter((client) => client.database === "postgres");
  await admin.end();
  expect(clients.length).toBeGreaterThanOrEqual(3);
});

it("a ride is as fresh through PgBouncer: each of 20 single-ride POSTs with ?wait=stored is stored within 1 s", async () => {
  const answers = [];
  const took: number[] = [];
  for (let i = 0; i < 20; i++) {
    const replica = replicas[i % replicas.length];
    const started = performance.now();
    answers.push(await post(replica.url, JSON.stringify(ride({ id: 1_400_000 + i })), "application/json", "/v1/rides?wait=stored"));
    took.push(performance.now() - started);
  }
  took.sort((a, b) => a - b);
  console.log(`[scale-out] POST ?wait=stored through PgBouncer: p50 ${took[9].toFixed(0)} ms, max ${took[19].toFixed(0)} ms`);
  expect(answers.map((a) => [a.status, a.body.status])).toEqual(Array(20).fill([200, "done"]));
  const { rows } = await cluster.pool.query("SELECT count(*)::int AS n FROM rides WHERE id BETWEEN 1400000 AND 1400019");
  expect(rows[0].n).toBe(20);
  expect(allOutput()).not.toMatch(LEAK);
});
