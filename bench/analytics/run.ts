/**
 * Analytics benchmark: N generated rides over a year in an embedded PostgreSQL (temp
 * dir), the rollups backfilled, then the issue's three queries timed from the rollup
 * and from raw rides in the same run (interleaved, so load on the shared machine hits
 * both alike), and the mover's intake with rollup upkeep on (logging its changes, then
 * the folder, as in the service) and off, on the same staged data. Every answer is
 * checked against rides, also with changes still in the log. Writes
 * bench/analytics/results.md; --smoke runs it small, for those checks only (CI).
 *
 *   npm run bench:analytics -- [--rides 10000000] [--runs 20] [--intake-rides 200000] [--rounds 3] [--smoke]
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { startEmbedded } from "../../src/db/embedded.ts";
import { applyMigrations } from "../../src/db/migrate.ts";
import { createMover } from "../../src/mover/move.ts";
import { createPartitions } from "../../src/mover/partitions.ts";
import { pendingRollupChanges } from "../../src/observability/database-stats.ts";
import { createFolder } from "../../src/rollup/folder.ts";
import { compileQuery } from "../../src/query/compile.ts";
import { parseQuery } from "../../src/query/dsl.ts";
import { runQuery } from "../../src/query/run.ts";
import { chooseRollup } from "../../src/query/source.ts";
import { ROLLUPS } from "../../src/rollup/rollups.ts";

const { values: args } = parseArgs({
  options: {
    rides: { type: "string", default: "10000000" },
    runs: { type: "string", default: "20" },
    "intake-rides": { type: "string", default: "200000" },
    rounds: { type: "string", default: "3" },
    smoke: { type: "boolean", default: false },
  },
});
const RIDES = args.smoke ? 100_000 : Number(args.rides);
const RUNS = args.smoke ? 2 : Number(args.runs);
const INTAKE_RIDES = args.smoke ? 20_000 : Number(args["intake-rides"]);
const ZONE = "Asia/Kolkata";
const YEAR_START = "2025-01-01T00:00:00+05:30";
const GENERATE_STEP = 1_000_000;
const RIDES_PER_JOB = 1_000;
/** Intake rounds per shape, off and on alternating: pairs of them share the machine's drift. */
const ROUNDS = Array.from({ length: 2 * (args.smoke ? 3 : Number(args.rounds)) }, (_, i) => (i % 2 === 0 ? "off" : "on"));

const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
const ms = (start: number) => performance.now() - start;

// Shapes from the sample (README beside it): point-to-point 79 %, hourly rental 17 % with
// no drop-off, vehicle model 12 for most rides, pickup areas skewed to a few hundred.
const VEHICLES = [...Array(69).fill(12), ...Array(6).fill(85), ...Array(6).fill(28), 65, 65, 65, 24, 24, 23, 23, 87, 89, 90, 86, 64, 54, 36, 17, 10, 13, 30, 43];
const GENERATOR = `
CREATE OR REPLACE FUNCTION bench_rides(first bigint, n int, start_at timestamptz, span interval, ordered boolean)
RETURNS TABLE (id bigint, user_id int, vehicle_model_id int, package_id int, travel_type_id int, from_area_id int,
  to_area_id int, from_city_id int, to_city_id int, from_date timestamptz, to_date timestamptz, online_booking boolean,
  mobile_site_booking boolean, booking_created timestamptz, from_lat float8, from_long float8, to_lat float8,
  to_long float8, car_cancellation boolean)
LANGUAGE sql VOLATILE AS $$
  SELECT first + g, 1 + floor(random() * 50000)::int,
    ('{${VEHICLES.join(",")}}'::int[])[1 + floor(random() * ${VEHICLES.length})::int],
    CASE WHEN tt = 3 THEN 1 + floor(random() * 7)::int END, tt,
    CASE WHEN random() < 0.98 THEN 1 + floor(1400 * power(random(), 3))::int END,
    CASE WHEN tt <> 3 THEN 1 + floor(1400 * power(random(), 3))::int END,
    CASE WHEN random() < 0.4 THEN 15 END, NULL::int, fd, NULL::timestamptz,
    random() < 0.35, random() < 0.04, fd - floor(random() * 600) * interval '1 minute',
    12.85 + random() * 0.2, 77.5 + random() * 0.2,
    CASE WHEN tt <> 3 THEN 12.85 + random() * 0.2 END, CASE WHEN tt <> 3 THEN 77.5 + random() * 0.2 END,
    random() < 0.07
  FROM (SELECT g, CASE WHEN r < 0.79 THEN 2 WHEN r < 0.96 THEN 3 ELSE 1 END AS tt,
          date_trunc('minute', start_at + span * CASE WHEN ordered THEN g::float8 / n ELSE random() END) AS fd
        FROM (SELECT g, random() AS r FROM generate_series(0, n - 1) g) s) s2
$$`;

const QUERIES = [
  {
    name: "30-day hourly count by travel_type_id",
    dsl: { measures: ["count"], dimensions: ["travel_type_id"], time: { from: "2025-06-01T00:00:00", to: "2025-07-01T00:00:00", granularity: "hour" } },
  },
  {
    name: "monthly cancellation rate by vehicle_model_id (one year)",
    dsl: { measures: ["cancellation_rate", "count"], dimensions: ["vehicle_model_id"], time: { from: "2025-01-01T00:00:00", to: "2026-01-01T00:00:00", granularity: "month" } },
  },
  {
    name: "top-20 pickup areas (30 days)",
    dsl: { measures: ["count"], dimensions: ["from_area_id"], time: { from: "2025-06-01T00:00:00", to: "2025-07-01T00:00:00" }, order: [{ member: "count", direction: "desc" }], limit: 20 },
  },
  {
    name: "top-20 pickup areas (one year)",
    dsl: { measures: ["count"], dimensions: ["from_area_id"], time: { from: "2025-01-01T00:00:00", to: "2026-01-01T00:00:00" }, order: [{ member: "count", direction: "desc" }], limit: 20 },
  },
];

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

type Compiled = ReturnType<typeof compileQuery>;
type BenchQuery = { name: string; rollup: string; fromRollup: Compiled; fromRides: Compiled };
type QueryResult = { name: string; rollup: string; rows: number; r50: number; r95: number; w50: number; w95: number };

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await work();
  return ms(t);
}

function p50p95<K extends string>(key: K, samples: number[]) {
  const sorted = [...samples].sort((x, y) => x - y);
  return { [`${key}50`]: percentile(sorted, 50), [`${key}95`]: percentile(sorted, 95) } as Record<`${K}50` | `${K}95`, number>;
}

/** Both sources' answers, which must be identical; the number of rows. */
async function sameAnswers(pool: pg.Pool, q: BenchQuery): Promise<number> {
  const a = await runQuery(pool, q.fromRollup, ZONE, 600_000);
  const b = await runQuery(pool, q.fromRides, ZONE, 600_000);
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${q.name}: the rollup and rides answers differ`);
  return a.length;
}

async function main() {
  const dir = await mkdtemp(path.join(tmpdir(), "rides-bench-analytics-"));
  const load = [loadavg()[0]];
  log(`embedded PostgreSQL in ${dir}`);
  const server = await startEmbedded(dir);
  // No client-side query timeout: generating and backfilling millions of rides takes minutes.
  const pool = new pg.Pool({ connectionString: server.url, max: 4 });
  try {
    await pool.query("ALTER SYSTEM SET max_wal_size = '8GB'");
    await pool.query("SELECT pg_reload_conf()");
    await applyMigrations(server.url, "unlogged");
    const ensure = createPartitions(pool, ZONE);
    await ensure(Array.from({ length: 12 }, (_, i) => `2025-${String(i + 1).padStart(2, "0")}`));
    await pool.query(GENERATOR);

    let started = performance.now();
    for (let first = 0; first < RIDES; first += GENERATE_STEP) {
      const n = Math.min(GENERATE_STEP, RIDES - first);
      await pool.query(
        `INSERT INTO rides SELECT *, 0, now() FROM bench_rides($1, $2, $3, interval '365 days', false)`,
        [first + 1, n, YEAR_START],
      );
      log(`generated ${first + n} rides`);
    }
    const generateS = ms(started) / 1000;
    started = performance.now();
    const mover = createMover({ pool, ensurePartitions: ensure, chunkRows: 20_000, zone: ZONE, prepare: true });
    await mover.backfillRollups();
    const backfillS = ms(started) / 1000;
    await pool.query("VACUUM ANALYZE");
    log(`backfilled the rollups in ${backfillS.toFixed(1)} s`);
    const sizes = await tableSizes(pool);

    const queries = QUERIES.map(({ name, dsl }) => {
      const query = parseQuery(dsl, { maxSpanDays: 400, maxRows: 10_000, defaultZone: ZONE });
      const rollup = chooseRollup(query, ZONE);
      if (!rollup) throw new Error(`${name}: no rollup covers it`);
      return { name, rollup: rollup.table, fromRollup: compileQuery(query, rollup), fromRides: compileQuery(query, undefined) };
    });
    const results: QueryResult[] = [];
    for (const q of queries) {
      const rows = await sameAnswers(pool, q);
      const rollupMs: number[] = [];
      const ridesMs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        rollupMs.push(await timed(() => runQuery(pool, q.fromRollup, ZONE, 600_000)));
        ridesMs.push(await timed(() => runQuery(pool, q.fromRides, ZONE, 600_000)));
      }
      const row = { name: q.name, rollup: q.rollup, rows, ...p50p95("r", rollupMs), ...p50p95("w", ridesMs) };
      results.push(row);
      log(`${q.name}: rollup p50 ${fmt(row.r50)} p95 ${fmt(row.r95)} ms; rides p50 ${fmt(row.w50)} p95 ${fmt(row.w95)} ms`);
    }
    load.push(loadavg()[0]);

    const { intake, pending } = await measureIntake(pool, ensure, RIDES, queries);
    load.push(loadavg()[0]);
    await writeResults({ results, intake, pending, sizes, generateS, backfillS, load, version: (await pool.query("SHOW server_version")).rows[0].server_version });
  } finally {
    await pool.end();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

type Intake = { shape: string; on: number[]; off: number[]; foldLagS: number[] };
type Pending = { changes: number; queries: { name: string; r50: number; r95: number }[] };

/**
 * The mover draining the same staged rides (1,000 per job) with rollup maintenance and
 * without: same generator seed, fresh ids each round, so every round inserts identical
 * rides into the same big table. With maintenance on, the mover logs its changes and,
 * as in the service, the folder folds them once staging is empty: the rate counts until
 * staging is empty, the fold lag is how long the rollups then took to catch up. Rounds
 * alternate off/on to share the machine's drift. Before the last fold, the queries are
 * timed (and checked against rides) with the round's changes still in the log.
 */
async function measureIntake(
  pool: pg.Pool,
  ensure: (months: string[]) => Promise<void>,
  firstId: number,
  queries: BenchQuery[],
): Promise<{ intake: Intake[]; pending: Pending }> {
  const shapes = [
    { shape: "streaming (each job's rides within minutes, time-ordered)", start: "2025-12-20T00:00:00+05:30", span: "1 day", ordered: true },
    { shape: "history (rides scattered over the whole year)", start: YEAR_START, span: "365 days", ordered: false },
  ];
  const on = createMover({ pool, ensurePartitions: ensure, chunkRows: 20_000, zone: ZONE, prepare: true });
  const off = createMover({ pool, ensurePartitions: ensure, chunkRows: 20_000, zone: ZONE, logForRollups: false, prepare: true });
  const folder = createFolder(pool, ZONE, (error) => {
    throw error;
  });
  const loggedColumns = (
    await pool.query("SELECT string_agg(column_name, ', ') AS c FROM information_schema.columns WHERE table_name = 'rollup_log' AND column_name <> 'sign'")
  ).rows[0].c;
  let nextId = firstId + 1_000_000_000;
  const out: Intake[] = [];
  let pending: Pending | undefined;
  for (const s of shapes) {
    const result: Intake = { shape: s.shape, on: [], off: [], foldLagS: [] };
    for (const mode of ROUNDS) {
      const client = await pool.connect();
      try {
        await client.query("SELECT setseed(0.42)");
        await client.query(
          `WITH new_jobs AS (
             INSERT INTO jobs (accepted) SELECT $3 FROM generate_series(1, $2::int / $3::int) RETURNING id
           ), numbered AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM new_jobs)
           INSERT INTO staging (job_id, ride_count, months, rides)
           SELECT n.id, $3::int, r.months, r.rides FROM numbered n, LATERAL (
             SELECT array_agg(jsonb_populate_record(null::staged_ride, to_jsonb(b))) AS rides, array_agg(DISTINCT to_char(b.from_date AT TIME ZONE '${ZONE}', 'YYYY-MM')) AS months
             FROM bench_rides($1::bigint + n.k * $3::int, $3::int, $4::timestamptz + $5::interval * n.k / ($2::int / $3::int), $5::interval / ($2::int / $3::int), $6::boolean) b
           ) r`,
          [nextId, INTAKE_RIDES, RIDES_PER_JOB, s.start, s.span, s.ordered],
        );
      } finally {
        client.release();
      }
      nextId += INTAKE_RIDES;
      // Each round starts clean: no autovacuum left over from the last round's fold, no dirty
      // pages. The folder has emptied the log; truncating it (rather than vacuuming) keeps the
      // round from paying a full-page image for every freed log page it reuses after the
      // checkpoint: in the service a log page is reused many times between checkpoints.
      await pool.query("TRUNCATE rollup_log");
      await pool.query(`VACUUM ${ROLLUPS.map((r) => r.table).join(", ")}`);
      await pool.query("CHECKPOINT");
      const mover = mode === "on" ? on : off;
      const t = performance.now();
      let moved = 0;
      for (;;) {
        const chunk = await mover.moveChunk();
        if (chunk.jobs === 0) break;
        moved += chunk.rides;
      }
      const rate = moved / (ms(t) / 1000);
      result[mode].push(rate);
      if (mode === "on" && s === shapes.at(-1) && result.on.length === ROUNDS.length / 2) pending = await timePending(pool, queries);
      const drained = performance.now();
      if (mode === "on") {
        folder.wake();
        await folder.settled();
        result.foldLagS.push(ms(drained) / 1000);
      } else {
        // Log and fold these rides too, untimed, so rollups and rides still agree.
        await pool.query(
          `INSERT INTO rollup_log (sign, ${loggedColumns}) SELECT 1, ${loggedColumns} FROM rides WHERE id >= $1 AND id < $2`,
          [nextId - INTAKE_RIDES, nextId],
        );
        await folder.foldAll();
      }
      const left = await pendingRollupChanges(pool);
      if (left > 0) throw new Error(`${left} changes left in rollup_log after the folder settled`);
      log(`intake ${s.shape} rollups ${mode}: ${moved} rides at ${rate.toFixed(0)} rides/s${mode === "on" ? `, rollups current ${result.foldLagS.at(-1)!.toFixed(2)} s later` : ""}`);
    }
    out.push(result);
  }
  return { intake: out, pending: pending! };
}

async function timePending(pool: pg.Pool, queries: BenchQuery[]): Promise<Pending> {
  const changes = await pendingRollupChanges(pool);
  const timedQueries = [];
  for (const q of queries) {
    await sameAnswers(pool, q);
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) samples.push(await timed(() => runQuery(pool, q.fromRollup, ZONE, 600_000)));
    timedQueries.push({ name: q.name, ...p50p95("r", samples) });
  }
  log(`queries with ${changes} changes pending: ${timedQueries.map((q) => fmt(q.r50)).join(", ")} ms (p50)`);
  return { changes, queries: timedQueries };
}

async function tableSizes(pool: pg.Pool) {
  const sizes: { name: string; rows: number; size: string }[] = [];
  for (const name of ["rides", ...ROLLUPS.map((r) => r.table)]) {
    const { rows } = await pool.query(
      `SELECT (SELECT count(*) FROM ${name})::bigint AS rows,
              pg_size_pretty(coalesce((SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = $1::regclass), 0)
                             + pg_total_relation_size($1::regclass)) AS size`,
      [name],
    );
    sizes.push({ name, rows: Number(rows[0].rows), size: rows[0].size });
  }
  return sizes;
}

async function writeResults(r: {
  results: QueryResult[];
  intake: Intake[];
  pending: Pending;
  sizes: { name: string; rows: number; size: string }[];
  generateS: number;
  backfillS: number;
  load: number[];
  version: string;
}) {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const lines = [
    "# Analytics benchmark",
    "",
    `Run ${new Date().toISOString()} with \`npm run bench:analytics -- --rides ${RIDES} --runs ${RUNS} --intake-rides ${INTAKE_RIDES} --rounds ${ROUNDS.length / 2}\`,`,
    `on ${cpus().length} cores shared with other work (1-minute load average ${r.load.map((l) => l.toFixed(1)).join(" → ")} over the run),`,
    `embedded PostgreSQL ${r.version} with its default settings (plus max_wal_size = 8GB). Figures drift run to run on this busy machine.`,
    "",
    `Data: ${RIDES.toLocaleString("en")} generated rides over 2025 (shapes of the sample), inserted in ${r.generateS.toFixed(0)} s; rollups backfilled in ${r.backfillS.toFixed(0)} s.`,
    "",
    "| table | rows | size |",
    "|---|---:|---:|",
    ...r.sizes.map((s) => `| ${s.name} | ${Number(s.rows).toLocaleString("en")} | ${s.size} |`),
    "",
    `## Queries (${RUNS} runs each, rollup and rides interleaved; ms, wall time in the client)`,
    "",
    "| query | rollup | rows | rollup p50 | rollup p95 | rides p50 | rides p95 | speed-up (p50) |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
    ...r.results.map((q) => `| ${q.name} | ${q.rollup} | ${q.rows} | ${fmt(q.r50)} | ${fmt(q.r95)} | ${fmt(q.w50)} | ${fmt(q.w95)} | ${(q.w50 / q.r50).toFixed(1)}× |`),
    "",
    "Both sources gave identical answers for every query (checked before timing).",
    "",
    `## Intake: the mover with rollup maintenance on and off (${INTAKE_RIDES.toLocaleString("en")} staged rides per round, ${RIDES_PER_JOB} per job, chunks of 20,000)`,
    "",
    "On: the mover logs each change in rollup_log; once staging is empty the folder folds the log into the rollups, as in the service.",
    "The rate counts until staging is empty; the lag is how long after that the rollups were current (the log empty).",
    "",
    "| staged data | off (rides/s, per round) | on (rides/s, per round) | on vs off (means) | rollups current after |",
    "|---|---:|---:|---:|---:|",
    ...r.intake.map(
      (i) =>
        `| ${i.shape} | ${i.off.map((x) => x.toFixed(0)).join(", ")} | ${i.on.map((x) => x.toFixed(0)).join(", ")} | ${(((mean(i.on) - mean(i.off)) / mean(i.off)) * 100).toFixed(1)} % | ${i.foldLagS.map((x) => `${x.toFixed(2)} s`).join(", ")} |`,
    ),
    "",
    `## Queries while ${r.pending.changes.toLocaleString("en")} changes wait in rollup_log (the last round, before its fold; ${RUNS} runs each, answers checked against rides)`,
    "",
    "| query | rollup p50 | rollup p95 |",
    "|---|---:|---:|",
    ...r.pending.queries.map((q) => `| ${q.name} | ${fmt(q.r50)} | ${fmt(q.r95)} |`),
    "",
  ];
  if (!args.smoke) await writeFile(new URL("./results.md", import.meta.url).pathname, lines.join("\n"));
  console.log(lines.join("\n"));
}

await main();
