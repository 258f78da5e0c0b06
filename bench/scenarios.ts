import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { createPool } from "../src/db/client.ts";
import { applyMigrations } from "../src/db/migrate.ts";
import { loadConfig } from "../src/config.ts";
import { createStager } from "../src/intake/stager.ts";
import { createJobPartitions } from "../src/jobs/partitions.ts";
import { columns } from "../src/jobs/store.ts";
import { createMover } from "../src/mover/move.ts";
import { createPartitions } from "../src/mover/partitions.ts";
import { createFolder } from "../src/rollup/folder.ts";
import { loadTravelTypes, readRides } from "../src/rides/index.ts";
import { monthIn, wallTimeToInstant } from "../src/rides/time.ts";
import type { Cluster } from "./cluster.ts";
import { bodySource, type Format, generateRides, renderBody } from "./generate/rides.ts";
import type { ClosedLoopInput, ClosedLoopResult } from "./load/closed-loop.ts";
import type { StreamLoadInput, StreamLoadResult } from "./load/stream.ts";
import type { TimedInput, TimedRequest, TimedResult } from "./load/timed.ts";
import { machineBusySeconds, postgresCpuSeconds, runLoad, type ServerKind, startServer } from "./processes.ts";
import { type Spread, spread } from "./stats.ts";

export type Row = {
  scenario: string;
  server: string;
  requestsPerSecond?: number;
  ridesPerSecond?: number;
  ack: Spread;
  non2xx: number;
  peakRssMb?: number;
  vsNaive?: number;
  vsQueue?: number;
  note?: string;
};

export type Bench = {
  cluster: Cluster;
  smoke: boolean;
  /** When set, the service runs under --cpu-prof and pg_stat_statements is dumped here. */
  profileDir?: string;
  /** What went wrong; the bench fails when any is recorded. */
  problems: string[];
};

const ZONE = "Asia/Kolkata";
const SEED = 20130101;
const SERVERS: ServerKind[] = ["service", "naive", "queue"];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A server of kind on a fresh database of its own, with a small pool for the bench's own queries. */
export async function launch(bench: Bench, kind: ServerKind, env: Record<string, string> = {}) {
  const database = await bench.cluster.createDatabase();
  // The service migrates its database itself; the naive baseline writes into the same schema,
  // and both baselines validate against its travel_types.
  if (kind !== "service") await applyMigrations(database.url, "unlogged");
  const server = await startServer(kind, database.url, kind === "service" ? bench.profileDir : undefined, env);
  const pool = createPool(database.url, { max: 2 });
  if (bench.profileDir) await pool.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  return {
    kind,
    url: server.url,
    cpuSeconds: server.cpuSeconds,
    pool,
    /** Rides the server has stored (the queue baseline: jobs it holds). */
    async stored(): Promise<number> {
      const sql = kind === "queue" ? "SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'rides'" : "SELECT count(*)::int AS n FROM rides";
      return (await pool.query<{ n: number }>(sql)).rows[0].n;
    },
    /** The service's staging is empty and no job is left queued, failed or lost. */
    async drained(timeoutMs = 120_000): Promise<void> {
      if (kind !== "service") return;
      const deadline = Date.now() + timeoutMs;
      while ((await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM staging")).rows[0].n > 0) {
        if (Date.now() > deadline) throw new Error(`staging not drained after ${timeoutMs} ms`);
        await sleep(20);
      }
      const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE status <> 'done'");
      if (rows[0].n > 0) bench.problems.push(`service: ${rows[0].n} jobs not done`);
    },
    async finish(label: string): Promise<number | undefined> {
      if (bench.profileDir && kind === "service") await dumpStatements(pool, path.join(bench.profileDir, `${label}-statements.txt`));
      const rss = server.peakRssMb();
      await server.stop();
      await pool.end();
      await database.drop();
      return rss;
    },
  };
}

async function dumpStatements(pool: pg.Pool, file: string) {
  const { rows } = await pool.query(
    `SELECT calls, round(total_exec_time)::int AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query
     FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     ORDER BY total_exec_time DESC LIMIT 15`,
  );
  await writeFile(file, rows.map((row) => JSON.stringify(row)).join("\n"));
}

/**
 * CPU seconds used while a load ran (its process started and ended within `seconds` of
 * wall time): by the server's process (all its threads), by PostgreSQL (all its processes)
 * and by the whole machine.
 */
export type CpuUse = { seconds: number; server: number; postgres: number; machine: number };
export const NO_CPU: CpuUse = { seconds: 0, server: 0, postgres: 0, machine: 0 };
export const addCpu = (a: CpuUse, b: CpuUse): CpuUse => ({
  seconds: a.seconds + b.seconds,
  server: a.server + b.server,
  postgres: a.postgres + b.postgres,
  machine: a.machine + b.machine,
});

const cpuNow = (bench: Bench, server: { cpuSeconds: () => number }): CpuUse => ({
  seconds: performance.now() / 1000,
  server: server.cpuSeconds(),
  postgres: postgresCpuSeconds(bench.cluster.postmasterPid()),
  machine: machineBusySeconds(),
});

/** What run returns, and the CPU used meanwhile (NaN where /proc is not there). */
export async function withCpu<T>(bench: Bench, server: { cpuSeconds: () => number }, run: () => Promise<T>): Promise<{ result: T; cpu: CpuUse }> {
  const before = cpuNow(bench, server);
  const result = await run();
  const after = cpuNow(bench, server);
  return { result, cpu: addCpu(after, { seconds: -before.seconds, server: -before.server, postgres: -before.postgres, machine: -before.machine }) };
}

/**
 * Where the CPU went while `count` requests, frames or rides were answered: on two cores
 * shared by the server, PostgreSQL and the load generator, it shows which of them a faster
 * request path would have to take its CPU from.
 */
export function cpuNote(cpu: CpuUse, count: number, unit: string): string {
  const cores = (used: number) => (used / cpu.seconds).toFixed(2);
  const each = (used: number) => `${Math.round((used / count) * 1e6)} µs per ${unit}`;
  return `cores: server ${cores(cpu.server)} (${each(cpu.server)}), PostgreSQL ${cores(cpu.postgres)} (${each(cpu.postgres)}), whole machine ${cores(cpu.machine)} of ${os.cpus().length}`;
}

const ratio = (a?: number, b?: number) => (a && b ? a / b : undefined);

/**
 * Closed-loop throughput of the three servers, ABCCBA (two halves each, in mirrored
 * order) so drift of a shared machine hits them alike; latencies of both halves are pooled.
 */
async function throughput(
  bench: Bench,
  scenario: string,
  load: { format: Format; ridesPerRequest: number; connections: number; secondsPerHalf: number; smokeRequests: number },
): Promise<Row[]> {
  const running = [];
  for (const kind of SERVERS) running.push(await launch(bench, kind));
  const order = bench.smoke ? running : [...running, ...[...running].reverse()];
  const totals = new Map(SERVERS.map((kind) => [kind, { seconds: 0, cpu: NO_CPU, ok: 0, non2xx: 0, errors: 0, latencies: [] as number[] }]));
  for (const [round, server] of order.entries()) {
    const input: ClosedLoopInput = {
      url: server.url,
      format: load.format,
      ridesPerRequest: load.ridesPerRequest,
      connections: load.connections,
      ...(bench.smoke ? { amount: load.smokeRequests } : { seconds: load.secondsPerHalf }),
      firstId: round * 100_000_000 + 1,
      seed: SEED + round,
    };
    const { result, cpu } = await withCpu(bench, server, () => runLoad<ClosedLoopResult>("bench/load/closed-loop.ts", input));
    // The next server must not share the machine with this one's mover.
    await server.drained();
    const total = totals.get(server.kind)!;
    total.seconds += result.seconds;
    total.cpu = addCpu(total.cpu, cpu);
    total.ok += result.ok;
    total.non2xx += result.non2xx;
    total.errors += result.errors;
    for (const ms of result.latencies) total.latencies.push(ms);
  }
  const rows: Row[] = [];
  for (const server of running) {
    const total = totals.get(server.kind)!;
    const stored = await server.stored();
    const acked = total.ok * load.ridesPerRequest;
    // A timed run stops with requests in flight, which may or may not have been stored.
    if (bench.smoke ? stored !== acked : stored < acked) bench.problems.push(`${scenario} ${server.kind}: ${acked} rides acknowledged, ${stored} stored`);
    if (bench.smoke && total.non2xx + total.errors > 0) bench.problems.push(`${scenario} ${server.kind}: ${total.non2xx} non-2xx, ${total.errors} errors`);
    rows.push({
      scenario,
      server: server.kind,
      requestsPerSecond: total.ok / total.seconds,
      ridesPerSecond: acked / total.seconds,
      ack: spread(total.latencies),
      non2xx: total.non2xx + total.errors,
      peakRssMb: await server.finish(scenario.replaceAll(/\W+/g, "-")),
      // CPU per request says what a change to the request path saved even when the machine's load moves req/s.
      note: cpuNote(total.cpu, total.ok, "request"),
    });
  }
  const [service, naive, queue] = rows;
  service.vsNaive = ratio(service.requestsPerSecond, naive.requestsPerSecond);
  service.vsQueue = ratio(service.requestsPerSecond, queue.requestsPerSecond);
  return rows;
}

export const single = (bench: Bench) =>
  throughput(bench, "single (1 ride/POST, JSON, 64 conn)", {
    format: "json", ridesPerRequest: 1, connections: 64, secondsPerHalf: 10, smokeRequests: 300,
  });

export async function batch(bench: Bench): Promise<Row[]> {
  const rows: Row[] = [];
  for (const format of ["json", "ndjson", "csv"] as const) {
    rows.push(...(await throughput(bench, `batch (1,000 rides/POST, ${format}, 16 conn)`, {
      format, ridesPerRequest: bench.smoke ? 100 : 1_000, connections: 16, secondsPerHalf: 5, smokeRequests: 5,
    })));
  }
  return rows;
}

/** Commit time (epoch ms) of the newest row in rides, from commit timestamps. */
async function lastCommit(pool: pg.Pool, maxId = Number.MAX_SAFE_INTEGER): Promise<number> {
  const { rows } = await pool.query<{ at: number }>(
    "SELECT (extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) * 1000)::float8 AS at FROM rides WHERE id <= $1",
    [maxId],
  );
  return rows[0].at;
}

const acked = (requests: TimedRequest[]) => requests.filter(([, , , , , status]) => status === 202);
const ackTimes = (requests: TimedRequest[]) => requests.filter((r) => r[5] !== 0).map(([, , , sent, ack]) => ack - sent);
const failures = (requests: TimedRequest[]) => requests.filter(([, , , , , status]) => status < 200 || status > 299).length;

/** Seconds a plain COPY of a producer's CSV file (the server reads it) into rides takes, its partitions already there. */
async function plainCopy(pool: pg.Pool, file: string): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query(`SET TimeZone = '${ZONE}'; SET DateStyle = 'ISO, MDY'; ALTER TABLE rides ALTER job_id SET DEFAULT 0`);
    const start = performance.now();
    await client.query(`COPY rides (${columns}) FROM '${file}' WITH (FORMAT csv, HEADER true, NULL 'NULL')`);
    const seconds = (performance.now() - start) / 1000;
    await client.query("ALTER TABLE rides ALTER job_id DROP DEFAULT; RESET TimeZone; RESET DateStyle");
    return seconds;
  } finally {
    client.release();
  }
}

/**
 * 288,000 rides of one day posted as the producer's CSV in 1,000-ride batches, from the
 * first byte sent until the last is committed in rides, next to a plain COPY of the
 * same CSV into an empty rides table.
 */
export async function oneDay(bench: Bench): Promise<Row[]> {
  const ridesPerRequest = bench.smoke ? 500 : 1_000;
  const requests = bench.smoke ? 10 : 288;
  const total = ridesPerRequest * requests;
  const source = { seed: SEED, format: "csv" as const, ridesPerRequest, firstId: 1, distinct: requests };

  // COPY: the same bytes, as one file the server reads, into a migrated empty database.
  const file = path.join(bench.cluster.dir, "one-day.csv");
  const body = bodySource(source);
  const lines = Array.from({ length: requests }, (_, i) => (i === 0 ? body(i) : body(i).slice(body(i).indexOf("\n") + 1)));
  await writeFile(file, lines.join(""), { mode: 0o644 });
  const database = await bench.cluster.createDatabase();
  await applyMigrations(database.url, "unlogged");
  const months = new Set(generateRides({ seed: SEED, count: total }).map((ride) => monthIn(wallTimeToInstant(ride.from_date, ZONE), ZONE)));
  const copyPool = createPool(database.url, { max: 1 });
  await createPartitions(copyPool, ZONE)(months);
  const copySeconds = await plainCopy(copyPool, file);
  const copied = (await copyPool.query<{ n: number }>("SELECT count(*)::int AS n FROM rides")).rows[0].n;
  await copyPool.end();
  await database.drop();
  if (copied !== total) bench.problems.push(`one day COPY: ${copied} of ${total} rows`);

  const service = await launch(bench, "service");
  const input: TimedInput = { url: service.url, ...source, requests, connections: 4 };
  const { result, cpu: cpuPosting } = await withCpu(bench, service, () => runLoad<TimedResult>("bench/load/timed.ts", input));
  await service.drained();
  const firstSent = Math.min(...result.requests.map(([, , , sent]) => sent));
  const seconds = ((await lastCommit(service.pool)) - firstSent) / 1000;
  const stored = await service.stored();
  if (stored !== total || acked(result.requests).length !== requests) {
    bench.problems.push(`one day: ${acked(result.requests).length} of ${requests} posts acknowledged, ${stored} of ${total} rides stored`);
  }
  const postSeconds = (result.phaseEnds[0] - firstSent) / 1000;
  return [
    {
      scenario: `one day (${total.toLocaleString("en")} rides, CSV, 4 conn)`,
      server: "service",
      requestsPerSecond: requests / postSeconds,
      ridesPerSecond: total / seconds,
      ack: spread(ackTimes(result.requests)),
      non2xx: failures(result.requests),
      peakRssMb: await service.finish("one-day"),
      note:
        `all stored ${seconds.toFixed(2)} s after the first byte (posting took ${postSeconds.toFixed(2)} s) = ${(seconds / copySeconds).toFixed(2)}× the COPY; ` +
        `while posting, ${cpuNote(cpuPosting, total, "ride")}`,
    },
    {
      scenario: `one day (${total.toLocaleString("en")} rides, CSV, 4 conn)`,
      server: "plain COPY",
      ridesPerSecond: total / copySeconds,
      ack: {},
      non2xx: 0,
      note: `COPY of the same CSV into an empty rides table: ${copySeconds.toFixed(2)} s`,
    },
  ];
}

/** Single-ride POSTs at a steady 1,000/s: from each 202 to its ride being committed in rides. */
export async function freshness(bench: Bench): Promise<Row[]> {
  const rate = bench.smoke ? 200 : 1_000;
  const seconds = bench.smoke ? 2 : 30;
  const service = await launch(bench, "service");
  const input: TimedInput = {
    url: service.url, format: "json", ridesPerRequest: 1, firstId: 1, seed: SEED, phases: [{ rate, seconds }], connections: 64,
  };
  const result = await runLoad<TimedResult>("bench/load/timed.ts", input);
  await service.drained();
  const { rows } = await service.pool.query<{ id: number; at: number }>(
    "SELECT id::float8 AS id, (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000)::float8 AS at FROM rides",
  );
  const readableAt = new Map(rows.map((row) => [row.id, row.at]));
  const delays: number[] = [];
  let missing = 0;
  for (const [id, , , , ack] of acked(result.requests)) {
    const at = readableAt.get(id);
    if (at === undefined) missing++;
    // Readable before the client had read its 202 counts as no delay.
    else delays.push(Math.max(0, at - ack));
  }
  if (missing > 0 || failures(result.requests) > 0) {
    bench.problems.push(`freshness: ${missing} acknowledged rides not stored, ${failures(result.requests)} failed posts (${result.errors.join(", ")})`);
  }
  const readable = spread(delays);
  return [
    {
      scenario: `freshness (${rate.toLocaleString("en")} rides/s as single JSON POSTs, ${seconds} s)`,
      server: "service",
      requestsPerSecond: result.requests.length / seconds,
      ridesPerSecond: result.requests.length / seconds,
      ack: spread(ackTimes(result.requests)),
      non2xx: failures(result.requests),
      peakRssMb: await service.finish("freshness"),
      note: `202 → readable in rides: p50 ${ms(readable.p50)}, p99 ${ms(readable.p99)}, max ${ms(readable.max)}`,
    },
  ];
}

/** Ten times the steady rate for a minute, then steady: no 5xx, and how long the backlog takes to drain. */
export async function burst(bench: Bench): Promise<Row[]> {
  const ridesPerRequest = 100;
  const phases = bench.smoke
    ? [{ rate: 100, seconds: 2 }, { rate: 10, seconds: 2 }]
    : [{ rate: 100, seconds: 60 }, { rate: 10, seconds: 30 }];
  const service = await launch(bench, "service");
  let peakBacklog = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const { rows } = await service.pool.query<{ n: number }>("SELECT coalesce(sum(ride_count), 0)::int AS n FROM staging");
      peakBacklog = Math.max(peakBacklog, rows[0].n);
      await sleep(250);
    }
  })();
  const input: TimedInput = { url: service.url, format: "json", ridesPerRequest, firstId: 1, seed: SEED, phases, connections: 64 };
  const result = await runLoad<TimedResult>("bench/load/timed.ts", input);
  polling = false;
  await poller;
  await service.drained();
  const burstRequests = result.requests.filter(([, , phase]) => phase === 0).length;
  const drainMs = Math.max(0, (await lastCommit(service.pool, burstRequests * ridesPerRequest)) - result.phaseEnds[0]);
  const serverErrors = result.requests.filter(([, , , , , status]) => status >= 500).length;
  const unanswered = result.requests.filter(([, , , , , status]) => status === 0).length;
  const stored = await service.stored();
  const ackedRides = acked(result.requests).length * ridesPerRequest;
  if (serverErrors + unanswered > 0 || stored !== ackedRides) {
    bench.problems.push(`burst: ${serverErrors} 5xx, ${unanswered} unanswered (${result.errors.join(", ")}), ${ackedRides} rides acknowledged, ${stored} stored`);
  }
  const totalSeconds = phases.reduce((sum, phase) => sum + phase.seconds, 0);
  return [
    {
      scenario: `burst (${phases[0].rate * ridesPerRequest} rides/s as 100-ride JSON POSTs for ${phases[0].seconds} s, then ${phases[1].rate * ridesPerRequest}/s)`,
      server: "service",
      requestsPerSecond: result.requests.length / totalSeconds,
      ridesPerSecond: (result.requests.length * ridesPerRequest) / totalSeconds,
      ack: spread(ackTimes(result.requests)),
      non2xx: failures(result.requests),
      peakRssMb: await service.finish("burst"),
      note: `${serverErrors} 5xx, ${unanswered} unanswered; burst backlog fully in rides ${(drainMs / 1000).toFixed(2)} s after the burst ended; peak staged backlog ${peakBacklog.toLocaleString("en")} rides`,
    },
  ];
}

/**
 * The mover alone, as the service runs it (rollup logging on, MOVER_CHUNK_ROWS), on two
 * databases that each hold the same stored rides, one of them also a ride with the largest
 * id a ride may have: rounds of fresh rides are staged, then timed from the first chunk to
 * empty staging, alternating the databases (ABBA); each round's rollup fold is timed after
 * it. Around them, a plain COPY of as many fresh rides as the producer's CSV into the
 * first database's rides: the floor the mover is held to.
 */
export async function moverAlone(bench: Bench): Promise<Row[]> {
  const stored = bench.smoke ? 20_000 : 1_000_000;
  const perRound = bench.smoke ? 5_000 : 100_000;
  const ridesPerJob = 100;
  const { moverChunkRows } = loadConfig({});
  const databases = [];
  for (const withMaxId of [false, true]) {
    const database = await bench.cluster.createDatabase();
    await applyMigrations(database.url, "unlogged");
    const pool = createPool(database.url, { max: 4 });
    // The rides are read and checked as the service does, against the travel types table.
    await loadTravelTypes(pool);
    await pool.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    const ensure = createPartitions(pool, ZONE);
    // The staged rides' months too, so no round pays for creating a partition.
    await ensure([...Array.from({ length: 12 }, (_, m) => `2013-${String(m + 1).padStart(2, "0")}`), "2014-01"]);
    // Stored history, a year of it in id order, written directly: only the mover's work afterwards is timed.
    await pool.query(
      `INSERT INTO rides (id, user_id, vehicle_model_id, travel_type_id, from_date, online_booking, mobile_site_booking, booking_created, car_cancellation, job_id)
       SELECT g, 1 + g % 48730, 12, 2, t, false, false, t - interval '1 hour', false, 0
       FROM generate_series(1, $1::int) g, LATERAL (SELECT timestamptz '2013-01-01 00:00+05:30' + g * (interval '364 days' / $1::int) AS t) at`,
      [stored],
    );
    const { idempotencyKeyTtlHours, jobsPartitionSize } = loadConfig({});
    const ensureJobPartitions = createJobPartitions(pool, jobsPartitionSize);
    await ensureJobPartitions();
    const stager = createStager({ pool, partitionZone: ZONE, idempotencyKeyTtlHours, ensureJobPartitions, onStaged: () => {}, prepare: true });
    const mover = createMover({ pool, ensurePartitions: ensure, chunkRows: moverChunkRows, zone: ZONE, prepare: true });
    const folder = createFolder(pool, ZONE, (error) => bench.problems.push(`mover: fold failed: ${(error as Error).message}`));
    databases.push({ withMaxId, database, pool, stager, mover, folder, nextId: stored + 1, seconds: 0, foldSeconds: 0, rides: 0, blocks: 0, finishBlocks: 0, jobs: 0 });
  }

  type Database = (typeof databases)[number];
  const stage = async (db: Database, count: number, id?: number) => {
    const staged = [];
    for (let done = 0; done < count; done += ridesPerJob) {
      const generated = generateRides({ seed: SEED + db.nextId, count: Math.min(ridesPerJob, count - done), firstId: id ?? db.nextId, day: Date.UTC(2013, 11, 1) });
      if (id === undefined) db.nextId += generated.length;
      const { accepted } = readRides(renderBody(generated, "json"), "application/json", ZONE, ridesPerJob);
      staged.push(db.stager.stage(accepted));
      // A few jobs in flight at a time, as concurrent requests would stage them (group commit).
      if (staged.length % 16 === 0) await Promise.all(staged);
    }
    await Promise.all(staged);
  };
  const drain = async (db: Database) => {
    let rides = 0;
    for (let chunk = await db.mover.moveChunk(); chunk.jobs > 0; chunk = await db.mover.moveChunk()) rides += chunk.rides;
    return rides;
  };
  // Buffers the move statement touched so far: what a chunk costs, unlike time, untouched by a busy machine.
  const moveBlocks = async (db: Database) =>
    (
      await db.pool.query<{ blocks: number }>(
        `SELECT coalesce(sum(shared_blks_hit + shared_blks_read), 0)::float8 AS blocks FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query LIKE '%DELETE FROM staging WHERE job_id = ANY%'`,
      )
    ).rows[0].blocks;
  // The same for the statement that marks the moved jobs done (and, with notifications, records their events), per job.
  const finishBlocks = async (db: Database) =>
    (
      await db.pool.query<{ blocks: number }>(
        `SELECT coalesce(sum(shared_blks_hit + shared_blks_read), 0)::float8 AS blocks FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query LIKE '%stored = s.stored%'`,
      )
    ).rows[0].blocks;
  const [plain, hostile] = databases;
  await stage(hostile, 1, Number.MAX_SAFE_INTEGER);
  await drain(hostile);
  await hostile.folder.foldAll();

  // COPY's rides: as many fresh ones, far above the staged ids, in the same month.
  let copied = 0;
  let copySeconds = 0;
  const copy = async () => {
    const file = path.join(bench.cluster.dir, "mover-copy.csv");
    const rides = generateRides({ seed: SEED + copied, count: perRound, firstId: 1e12 + copied + 1, day: Date.UTC(2013, 11, 1) });
    await writeFile(file, renderBody(rides, "csv"), { mode: 0o644 });
    copySeconds += await plainCopy(plain.pool, file);
    copied += perRound;
  };

  await copy();
  for (const db of [plain, hostile, hostile, plain]) {
    await stage(db, perRound);
    const blocks = await moveBlocks(db);
    const finished = await finishBlocks(db);
    const start = performance.now();
    db.rides += await drain(db);
    db.seconds += (performance.now() - start) / 1000;
    db.blocks += (await moveBlocks(db)) - blocks;
    db.finishBlocks += (await finishBlocks(db)) - finished;
    db.jobs += perRound / ridesPerJob;
    const foldStart = performance.now();
    await db.folder.foldAll();
    db.foldSeconds += (performance.now() - foldStart) / 1000;
  }
  await copy();
  const copyPerSecond = copied / copySeconds;
  const rows: Row[] = [];
  for (const db of databases) {
    const { rows: counts } = await db.pool.query<{ rides: number; open: number; logged: number }>(
      "SELECT (SELECT count(*)::int FROM rides) AS rides, (SELECT count(*)::int FROM jobs WHERE status <> 'done') AS open, (SELECT count(*)::int FROM rollup_log) AS logged",
    );
    const expected = stored + 2 * perRound + (db.withMaxId ? 1 : 0) + (db === plain ? copied : 0);
    if (counts[0].rides !== expected || counts[0].open > 0 || counts[0].logged > 0 || db.rides !== 2 * perRound) {
      bench.problems.push(`mover: ${counts[0].rides} of ${expected} rides stored, ${counts[0].open} jobs not done, ${counts[0].logged} changes not folded, ${db.rides} moved`);
    }
    const perSecond = db.rides / db.seconds;
    rows.push({
      scenario: `mover (${stored.toLocaleString("en")} rides stored, 2 × ${perRound.toLocaleString("en")} moved, ${ridesPerJob}-ride jobs)`,
      server: db.withMaxId ? "mover, a ride with id 2^53−1 stored" : "mover",
      ridesPerSecond: perSecond,
      ack: {},
      non2xx: 0,
      note:
        `${(perSecond / copyPerSecond).toFixed(2)}× COPY's rides/s; ${(db.blocks / db.rides).toFixed(1)} buffers per ride in the move statement, ${(db.finishBlocks / db.jobs).toFixed(1)} per job in the finish statement; ` +
        `folding its rollup changes after it: ${fixed(db.rides / db.foldSeconds)} rides/s, move and fold together ${fixed(db.rides / (db.seconds + db.foldSeconds))} rides/s`,
    });
    await db.pool.end();
    await db.database.drop();
  }
  rows[1].note += `; ${(rows[1].ridesPerSecond! / rows[0].ridesPerSecond!).toFixed(2)}× the rides/s of the same move without that ride`;
  rows.push({
    scenario: rows[0].scenario,
    server: "plain COPY",
    ridesPerSecond: copyPerSecond,
    ack: {},
    non2xx: 0,
    note: `COPY of 2 × ${perRound.toLocaleString("en")} fresh rides as the producer's CSV into the first database's rides, before and after the moves`,
  });
  return rows;
}

const fixed = (value: number) => Math.round(value).toLocaleString("en");

/**
 * Frames kept unanswered per stream by the stream load. 4 is the scenario's own row; 1 and
 * 16 show the trade-off around it: acks wait for a commit that more frames in flight
 * share, so more in flight is cheaper per frame (bigger group commits) and slower to ack.
 */
const STREAM_WINDOWS = [1, 4, 16];
const SMOKE_STREAM_WINDOW = 4;

/**
 * One-ride frames over 64 streams against one-ride POSTs over 64 connections, each on a
 * service of its own: POST, then each window, then each window again in reverse and POST
 * (halves of 5 s).
 */
export async function stream(bench: Bench): Promise<Row[]> {
  const post = await launch(bench, "service");
  const windows = bench.smoke ? [SMOKE_STREAM_WINDOW] : STREAM_WINDOWS;
  const streams = new Map<number, Launched>();
  for (const window of windows) streams.set(window, await launch(bench, "service"));
  const runs: { server: Launched; window?: number }[] = [{ server: post }, ...windows.map((window) => ({ server: streams.get(window)!, window }))];
  const order = bench.smoke ? runs : [...runs, ...[...runs].reverse()];
  const totals = new Map(
    runs.map(({ server, window }): [Launched, OneRideTotals] => [server, { unit: window === undefined ? "request" : "frame", seconds: 0, ok: 0, failed: 0, latencies: [], cpu: NO_CPU }]),
  );
  for (const [round, { server, window }] of order.entries()) {
    const common = { url: server.url, firstId: round * 100_000_000 + 1, seed: SEED + round };
    const amount = bench.smoke ? 300 : undefined;
    const seconds = bench.smoke ? undefined : 5;
    const { result, cpu } = await withCpu<ClosedLoopResult | StreamLoadResult>(bench, server, () =>
      window === undefined
        ? runLoad<ClosedLoopResult>("bench/load/closed-loop.ts", { ...common, format: "json", ridesPerRequest: 1, connections: 64, amount, seconds } satisfies ClosedLoopInput)
        : runLoad<StreamLoadResult>("bench/load/stream.ts", { ...common, streams: 64, window, amount, seconds } satisfies StreamLoadInput),
    );
    await server.drained();
    const total = totals.get(server)!;
    total.cpu = addCpu(total.cpu, cpu);
    total.seconds += result.seconds;
    total.ok += result.ok;
    total.failed += "non2xx" in result ? result.non2xx + result.errors : result.refused + result.errors;
    for (const ms of result.latencies) total.latencies.push(ms);
  }
  const rows: Row[] = [];
  for (const { server, window } of runs) {
    const label = window === undefined ? "service, POST" : `service, stream × ${window} in flight`;
    rows.push(await oneRideRow(bench, server, "stream (1 ride/frame, 64 streams) vs 1 ride/POST, 64 conn", label, totals.get(server)!));
  }
  const [postRow, ...streamRows] = rows;
  for (const row of streamRows) row.note = `${(row.ridesPerSecond! / postRow.ridesPerSecond!).toFixed(1)}× the POST rides/s; ${row.note}`;
  streamRows[windows.indexOf(SMOKE_STREAM_WINDOW)].note += " (targets: ≥ 5× the POST rides/s, ack p99 < 25 ms, peak RSS < 250 MB)";
  return rows;
}

export type Launched = Awaited<ReturnType<typeof launch>>;
/** What one server took over a scenario's rounds of one-ride requests or frames (`unit`), and the CPU used meanwhile. */
export type OneRideTotals = { unit: "request" | "frame"; seconds: number; ok: number; failed: number; latencies: number[]; cpu: CpuUse };

/** One server's row from its one-ride totals, once every acknowledged ride is seen stored (and, in a smoke run, none refused). */
export async function oneRideRow(bench: Bench, server: Launched, scenario: string, label: string, total: OneRideTotals): Promise<Row> {
  const stored = await server.stored();
  if (bench.smoke ? stored !== total.ok : stored < total.ok) bench.problems.push(`${scenario}, ${label}: ${total.ok} rides acknowledged, ${stored} stored`);
  if (bench.smoke && total.failed > 0) bench.problems.push(`${scenario}, ${label}: ${total.failed} refused or failed`);
  return {
    scenario,
    server: label,
    requestsPerSecond: total.ok / total.seconds,
    ridesPerSecond: total.ok / total.seconds,
    ack: spread(total.latencies),
    non2xx: total.failed,
    peakRssMb: await server.finish(label.replaceAll(/\W+/g, "-")),
    note: cpuNote(total.cpu, total.ok, total.unit),
  };
}

export const ms = (value?: number) => (value === undefined ? "–" : value < 10 ? `${value.toFixed(2)} ms` : `${Math.round(value)} ms`);
