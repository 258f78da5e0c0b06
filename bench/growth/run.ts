/**
 * npm run bench:growth: does the service answer as fast after a year of traffic as on
 * day one? One run, one embedded PostgreSQL: a new database, and one grown in bulk SQL
 * to `--jobs` finished jobs (and one ride each) received evenly over a year, with
 * partitions of a day's jobs, then copied. The service is measured on the new database,
 * on the grown one with everything kept (JOBS_RETENTION_DAYS=3650: its first prune finds
 * nothing) and on the copy with the default 30 days, whose first prune drops eleven
 * months of jobs while single-ride POSTs with ?wait=stored keep coming. The three then
 * run at once and every figure is taken from them in turns. Writes
 * bench/growth/results.md; --smoke runs it small (CI), checking the answers only.
 *
 *   npm run bench:growth -- [--jobs 100000000] [--samples 200] [--seconds 10] [--smoke]
 */
import { writeFile } from "node:fs/promises";
import os from "node:os";
import { parseArgs } from "node:util";
import pg from "pg";
import { applyMigrations } from "../../src/db/migrate.ts";
import { withDatabase } from "../../test/support/global-setup.ts";
import { startCluster } from "../cluster.ts";
import type { ClosedLoopInput, ClosedLoopResult } from "../load/closed-loop.ts";
import { killChildren, runLoad, type Server, startServer } from "../processes.ts";
import { percentile } from "../stats.ts";
import { growJobs, growRides } from "./grow.ts";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "100000000" },
    samples: { type: "string", default: "200" },
    seconds: { type: "string", default: "10" },
    smoke: { type: "boolean", default: false },
  },
});
const JOBS = args.smoke ? 20_000 : Number(args.jobs);
const SAMPLES = args.smoke ? 20 : Number(args.samples);
const SECONDS = args.smoke ? 2 : Number(args.seconds);
const DAYS = 365;
/** Single-ride load before the measured one, on every database alike. */
const WARM_UP_SECONDS = args.smoke ? 1 : 3;
/** The measured load on each database comes in this many slices, in turns with the others. */
const LOAD_SLICES = args.smoke ? 1 : 5;
const DAY_MS = 86_400_000;
const ZONE = "Asia/Kolkata";
/** A partition per day of jobs, as JOBS_PARTITION_SIZE would be set for this traffic. */
const PARTITION_SIZE = Math.max(10, Math.ceil(JOBS / DAYS));
const FIRST_ID = 1_000_001;
const PRUNE_LOG = "pruned jobs and Idempotency-Keys past retention";

const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
const round = (n: number | undefined, digits = 1) => (n === undefined ? "-" : n.toFixed(digits));

type Latency = { p50?: number; p95?: number; max?: number };
const latency = (values: number[]): Latency => ({ p50: percentile(values, 50), p95: percentile(values, 95), max: percentile(values, 100) });

type Run = {
  name: string;
  jobs: number;
  startMs: number;
  reads: Record<string, Latency>;
  postWaitStored: Latency;
  duringPrune: { prune: Record<string, number> | undefined; waitStored: Latency; posts: number };
  throughput: number;
  jobsMb: number;
};

let nextRideId = 500_000_000;
const rideBody = () =>
  JSON.stringify({
    id: nextRideId++, user_id: 17, vehicle_model_id: 12, travel_type_id: 2, from_date: new Date(Date.now() - 3_600_000).toISOString(),
    online_booking: 0, mobile_site_booking: 0, booking_created: new Date(Date.now() - 7_200_000).toISOString(), car_cancellation: 0,
  });

async function timed(request: () => Promise<Response>, expected = 200): Promise<number> {
  const t = performance.now();
  const response = await request();
  const ms = performance.now() - t;
  await response.arrayBuffer();
  if (response.status !== expected) throw new Error(`expected ${expected}, got ${response.status} from ${response.url}`);
  return ms;
}

async function sample(n: number, request: (i: number) => Promise<Response>, expected = 200): Promise<Latency> {
  const values: number[] = [];
  for (let i = 0; i < n; i++) values.push(await timed(() => request(i), expected));
  return latency(values);
}

const postStored = (url: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/rides?wait=stored`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: rideBody() });

const pruneReports = (server: Server) =>
  server
    .stdout()
    .split("\n")
    .filter((line) => line.includes(PRUNE_LOG))
    .map((line) => JSON.parse(line) as Record<string, number>);

async function jobsMb(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ mb: number }>(
      `SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)::float8 / 1048576 AS mb FROM pg_inherits WHERE inhparent = 'jobs'::regclass`,
    );
    return rows[0].mb;
  } finally {
    await client.end();
  }
}

type Started = { name: string; url: string; server: Server; client: pg.Client; startMs: number; duringPrune: Run["duringPrune"] };

/** Starts the service on one database and waits out its first prune, POSTing single rides through it. */
async function start(name: string, url: string, retentionDays: number): Promise<Started> {
  process.env.JOBS_RETENTION_DAYS = String(retentionDays);
  process.env.JOBS_PARTITION_SIZE = String(PARTITION_SIZE);
  process.env.LOG_LEVEL = "info";
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {});
  await client.connect();
  const { rows } = await client.query<{ n: string }>("SELECT count(*) AS n FROM jobs");
  const t = performance.now();
  const server = await startServer("service", url);
  const startMs = performance.now() - t;
  log(`${name}: ready in ${round(startMs, 0)} ms with ${rows[0].n} jobs`);
  // The first prune comes shortly after start: single-ride POSTs keep waiting for their
  // rides to be stored through it, so a lock it held on intake or mover would show.
  const during: number[] = [];
  const deadline = Date.now() + 600_000;
  while (pruneReports(server).length === 0) {
    if (Date.now() > deadline) throw new Error(`${name}: no prune within 10 minutes`);
    during.push(await timed(() => postStored(server.url)));
  }
  const prune = pruneReports(server)[0];
  log(`${name}: first prune ${JSON.stringify(prune)}`);
  return { name, url, server, client, startMs, duringPrune: { prune, waitStored: latency(during), posts: during.length } };
}

/**
 * The same request to every service in turn, `n` rounds: on a machine shared with other
 * work the load changes by the minute, and a service measured minutes after another
 * would carry that change in its ratio; in turns, each sees the same moments.
 */
async function inTurns(services: Started[], n: number, request: (service: Started, i: number) => Promise<Response>): Promise<Latency[]> {
  const values = services.map((): number[] => []);
  for (let i = 0; i < n; i++) {
    for (const [k, service] of services.entries()) values[k].push(await timed(() => request(service, i)));
  }
  return values.map(latency);
}

async function closedLoop(service: Started, seconds: number): Promise<ClosedLoopResult> {
  const result = await runLoad<ClosedLoopResult>(new URL("../load/closed-loop.ts", import.meta.url).pathname, {
    url: service.server.url, format: "json", ridesPerRequest: 1, connections: 8, seconds, firstId: nextRideId, seed: 7,
  } satisfies ClosedLoopInput);
  nextRideId += result.ok + result.non2xx + 10_000;
  if (result.non2xx + result.errors > 0) throw new Error(`${service.name}: ${result.non2xx} non-2xx and ${result.errors} errors under load`);
  return result;
}

/** Every read and POST measured in turns across the services, then single-ride load in turns of slices. */
async function measure(services: Started[]): Promise<Run[]> {
  const jobIds = await Promise.all(
    services.map(async ({ client }) => (await client.query<{ id: string }>("SELECT id FROM jobs ORDER BY id DESC LIMIT $1", [SAMPLES])).rows.map((row) => row.id)),
  );
  const jobs = await Promise.all(services.map(async ({ client }) => Number((await client.query("SELECT count(*) AS n FROM jobs")).rows[0].n)));
  const reads: Record<string, Latency[]> = {
    "GET /metrics": await inTurns(services, SAMPLES, ({ server }) => fetch(`${server.url}/metrics`)),
    "GET /dashboard/stats": await inTurns(services, SAMPLES, ({ server }) => fetch(`${server.url}/dashboard/stats`)),
    "GET /readyz": await inTurns(services, SAMPLES, ({ server }) => fetch(`${server.url}/readyz`)),
    "GET /v1/jobs/{id}": await inTurns(services, SAMPLES, ({ server }, i) => {
      const ids = jobIds[services.findIndex((s) => s.server === server)];
      return fetch(`${server.url}/v1/jobs/${ids[i % ids.length]}`);
    }),
    "GET /v1/jobs?status=failed": await inTurns(services, SAMPLES, ({ server }) => fetch(`${server.url}/v1/jobs?status=failed&limit=10`)),
    "POST, new Idempotency-Key": await inTurns(services, SAMPLES, ({ name, server }, i) =>
      postStored(server.url, { "idempotency-key": `${name.replace(/\W+/g, "-")}-${i}` }),
    ),
  };
  const postWaitStored = await inTurns(services, SAMPLES, ({ server }) => postStored(server.url));
  // A database just built (or copied) in bulk starts with cold buffers, where one that
  // grew for a year is warm: the first seconds under load measured that, not its age.
  for (const service of services) await closedLoop(service, WARM_UP_SECONDS);
  const ok = services.map(() => 0);
  const seconds = services.map(() => 0);
  for (let slice = 0; slice < LOAD_SLICES; slice++) {
    for (const [k, service] of services.entries()) {
      const result = await closedLoop(service, SECONDS / LOAD_SLICES);
      ok[k] += result.ok;
      seconds[k] += result.seconds;
    }
  }
  return Promise.all(
    services.map(async (service, k) => ({
      name: service.name,
      jobs: jobs[k],
      startMs: service.startMs,
      reads: Object.fromEntries(Object.entries(reads).map(([read, latencies]) => [read, latencies[k]])),
      postWaitStored: postWaitStored[k],
      duringPrune: service.duringPrune,
      throughput: ok[k] / seconds[k],
      jobsMb: await jobsMb(service.url),
    })),
  );
}

process.on("exit", killChildren);
const cluster = await startCluster();
try {
  log(`PostgreSQL ${cluster.version}; ${JOBS} jobs over ${DAYS} days, partitions of ${PARTITION_SIZE} ids`);
  const fresh = await cluster.createDatabase();
  const grown = await cluster.createDatabase();
  await applyMigrations(fresh.url, "unlogged");
  await applyMigrations(grown.url, "unlogged");
  const pool = new pg.Pool({ connectionString: grown.url, max: 2 });
  const now = Date.now();
  const span = { firstId: FIRST_ID, count: JOBS, from: new Date(now - DAYS * DAY_MS), to: new Date(now - 60_000) };
  let t = performance.now();
  await growJobs(pool, { ...span, partitionSize: PARTITION_SIZE, keyEvery: 10 });
  log(`grew ${JOBS} jobs in ${round((performance.now() - t) / 1000)} s`);
  t = performance.now();
  await growRides(pool, span, ZONE);
  log(`grew ${JOBS} rides and their rollups in ${round((performance.now() - t) / 1000)} s`);
  await pool.query("VACUUM ANALYZE");
  await pool.end();
  const grownMbBefore = await jobsMb(grown.url);

  // Each grown run gets a copy of its own: the 30-day run would otherwise also find the
  // all-kept run's thousands of POSTs in its last hour, which the dashboard's last-hour
  // figures read (they grow with recent traffic, the same on a new database as on an old one).
  t = performance.now();
  const grownName = new URL(grown.url).pathname.slice(1);
  await cluster.admin.query(`CREATE DATABASE ${grownName}_30_days TEMPLATE ${grownName}`);
  log(`copied the grown database in ${round((performance.now() - t) / 1000)} s`);
  const services: Started[] = [];
  let runs: Run[];
  try {
    services.push(await start("new", fresh.url, 30));
    services.push(await start("grown, all kept", grown.url, 3650));
    services.push(await start("grown, 30 days kept", withDatabase(grown.url, `${grownName}_30_days`), 30));
    runs = await measure(services);
  } finally {
    for (const { server, client } of services) {
      await server.stop();
      await client.end();
    }
  }
  const [base] = runs;
  const ratio = (value: number | undefined, baseline: number | undefined) =>
    value === undefined || baseline === undefined ? "-" : `${(value / baseline).toFixed(2)}×`;

  const lines = [
    "# Growth benchmark: the same reads on a new and on a grown database",
    "",
    `\`npm run bench:growth -- --jobs ${JOBS} --samples ${SAMPLES} --seconds ${SECONDS}\` on ${os.cpus().length} cores (shared with other work: figures are noisy), PostgreSQL ${cluster.version} (embedded), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
    "",
    `The grown database: ${JOBS} finished jobs received evenly over ${DAYS} days (partitions of ${PARTITION_SIZE} ids, a day each), one ride per job and the rollups over them, built in bulk SQL (bench/growth/grow.ts); jobs partitions + indexes ${round(grownMbBefore)} MB before any prune. Every figure is sequential requests, p50 / p95 ms, ${SAMPLES} samples, sent to the three services in turns (all three run at once, each on its database; the load comes in turns of slices) so each sees the same moments of a shared machine; the ratio is against the new database in the same run. The two grown runs each start on their own copy of the grown database, so each finds only its own POSTs in the last hour.`,
    "",
    `| | ${runs.map((r) => r.name).join(" | ")} | ${runs.slice(1).map((r) => `${r.name} / new`).join(" | ")} |`,
    `|---|${runs.map(() => "---").join("|")}|${runs.slice(1).map(() => "---").join("|")}|`,
    `| jobs in the database when measured | ${runs.map((r) => r.jobs).join(" | ")} | ${runs.slice(1).map(() => "").join(" | ")} |`,
    `| start until /readyz (ms) | ${runs.map((r) => round(r.startMs, 0)).join(" | ")} | ${runs.slice(1).map((r) => ratio(r.startMs, base.startMs)).join(" | ")} |`,
    ...Object.keys(base.reads).map(
      (read) =>
        `| ${read} | ${runs.map((r) => `${round(r.reads[read].p50)} / ${round(r.reads[read].p95)}`).join(" | ")} | ${runs
          .slice(1)
          .map((r) => `${ratio(r.reads[read].p50, base.reads[read].p50)} / ${ratio(r.reads[read].p95, base.reads[read].p95)}`)
          .join(" | ")} |`,
    ),
    `| POST one ride ?wait=stored | ${runs.map((r) => `${round(r.postWaitStored.p50)} / ${round(r.postWaitStored.p95)}`).join(" | ")} | ${runs
      .slice(1)
      .map((r) => `${ratio(r.postWaitStored.p50, base.postWaitStored.p50)} / ${ratio(r.postWaitStored.p95, base.postWaitStored.p95)}`)
      .join(" | ")} |`,
    `| single-ride POSTs/s (8 connections, ${SECONDS} s in ${LOAD_SLICES} slices, after ${WARM_UP_SECONDS} s of the same) | ${runs.map((r) => round(r.throughput, 0)).join(" | ")} | ${runs.slice(1).map((r) => ratio(r.throughput, base.throughput)).join(" | ")} |`,
    `| jobs partitions + indexes (MB) after the first prune | ${runs.map((r) => round(r.jobsMb)).join(" | ")} | ${runs.slice(1).map((r) => ratio(r.jobsMb, base.jobsMb)).join(" | ")} |`,
    "",
    "## The first prune after start, with single-ride POSTs ?wait=stored running through it",
    "",
    "| | partitions dropped | jobs dropped | keys expired | prune ms | ms per partition (a day of jobs) | POSTs meanwhile | their p50 / p95 / max ms |",
    "|---|---|---|---|---|---|---|---|",
    ...runs.map((r) => {
      const p = r.duringPrune.prune ?? {};
      const per = p.jobPartitions ? p.ms / p.jobPartitions : undefined;
      const w = r.duringPrune.waitStored;
      return `| ${r.name} | ${p.jobPartitions} | ${p.jobs} | ${p.idempotencyKeys} | ${p.ms} | ${round(per)} | ${r.duringPrune.posts} | ${round(w.p50)} / ${round(w.p95)} / ${round(w.max)} |`;
    }),
    "",
  ];
  console.log(lines.join("\n"));
  const pruned = runs[2].duringPrune.prune;
  if (!pruned || pruned.jobPartitions < 1) throw new Error("the grown database's first prune dropped no partition");
  if (runs[2].jobs >= runs[1].jobs) throw new Error("pruning kept every job");
  if (!args.smoke) await writeFile(new URL("./results.md", import.meta.url).pathname, lines.join("\n"));
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await cluster.stop();
}
