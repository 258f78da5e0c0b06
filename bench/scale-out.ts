import { writeFile } from "node:fs/promises";
import os from "node:os";
import { parseArgs } from "node:util";
import { type Cluster, HARNESS_APPLICATION, startCluster, until } from "../test/faults/support/cluster.ts";
import { cleanUp as stopClustersAndServices } from "../test/faults/support/clean-up.ts";
import { startServiceProcess } from "../test/faults/support/service-process.ts";
import { startHaProxy } from "../test/scale-out/support/haproxy.ts";
import { requirePrograms } from "../test/scale-out/support/processes.ts";
import type { ClosedLoopInput, ClosedLoopResult } from "./load/closed-loop.ts";
import type { TimedInput, TimedResult } from "./load/timed.ts";
import { cpuSeconds, killChildren, postgresCpuSeconds, runLoad } from "./processes.ts";
import { ms } from "./scenarios.ts";
import { spread } from "./stats.ts";

/**
 * npm run bench:scale-out: replicas behind HAProxy, direct and through PgBouncer
 * (requests/s, ack p99, PostgreSQL connections, and where the CPU went), and intake
 * latency while heavy analytics queries run. The same harness as the fault and
 * scale-out tests: their clusters, service processes, PgBouncer and HAProxy.
 */
const { values: options } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    only: { type: "string" },
    // A checkout of another commit to start the service from: the "before" of a change.
    "service-root": { type: "string" },
  },
});
const SCENARIOS = ["replicas", "analytics"] as const;
const chosen = options.only?.split(",") ?? [...SCENARIOS];
for (const name of chosen) if (!SCENARIOS.includes(name as never)) throw new Error(`--only: no scenario "${name}" (${SCENARIOS.join(", ")})`);
const serviceRoot = options["service-root"];
const SEED = 20130101;
const SETTINGS = ["max_connections=200"];
const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));
const problems: string[] = [];

let haproxyStop: (() => Promise<void>) | undefined;
let cleaning: Promise<void> | undefined;
/** Once, whoever asks first (a signal, or the run's end): a second caller waits for the same. */
const cleanUp = () =>
  (cleaning ??= (async () => {
    killChildren();
    await haproxyStop?.();
    await stopClustersAndServices();
  })());
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void cleanUp().then(() => process.exit(130)));

type Pids = { service: number[]; haproxy: number[]; pgbouncer: number[] };
const cpuNow = (pids: Pids, cluster: Cluster) => ({
  service: pids.service.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
  postgres: postgresCpuSeconds(cluster.postmasterPid()),
  pgbouncer: pids.pgbouncer.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
  haproxy: pids.haproxy.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
});

/**
 * The most client connections PostgreSQL had at once while `during` ran (sampled every
 * 100 ms, the harness's own left out): the pools' (directly or PgBouncer's server
 * connections) and pg-boss's sessions.
 */
async function peakConnections<T>(cluster: Cluster, during: Promise<T>): Promise<[T, { pools: number; pgBoss: number }]> {
  const peak = { pools: 0, pgBoss: 0 };
  let running = true;
  const sampler = (async () => {
    while (running) {
      const { rows } = await cluster.pool.query<{ boss: number; others: number }>(
        `SELECT count(*) FILTER (WHERE application_name LIKE 'pgboss%')::int AS boss,
                count(*) FILTER (WHERE application_name NOT LIKE 'pgboss%' AND application_name <> $1)::int AS others
         FROM pg_stat_activity WHERE backend_type = 'client backend'`,
        [HARNESS_APPLICATION],
      );
      peak.pools = Math.max(peak.pools, rows[0].others);
      peak.pgBoss = Math.max(peak.pgBoss, rows[0].boss);
      await sleep(100);
    }
  })();
  try {
    return [await during, peak];
  } finally {
    running = false;
    await sampler;
  }
}

async function drained(cluster: Cluster) {
  await until("staging to drain", async () => (await cluster.pool.query("SELECT count(*)::int AS n FROM staging")).rows[0].n === 0, 120_000);
}

async function replicas(): Promise<string> {
  const seconds = options.smoke ? 3 : 15;
  const lines: string[] = [];
  for (const via of ["direct", "pgbouncer"] as const) {
    for (const count of [1, 2, 3]) {
      const cluster = await startCluster({ pgbouncer: via === "pgbouncer", settings: SETTINGS });
      const services = await Promise.all(Array.from({ length: count }, () => startServiceProcess(cluster.url, { env: cluster.serviceEnv })));
      const haproxy = await startHaProxy(services.map((service) => service.port));
      haproxyStop = haproxy.stop;
      await until("every replica up in HAProxy", async () => Object.values(await haproxy.servers()).every((s) => s.status === "UP"), 20_000);
      const pids = { service: services.map((s) => s.child.pid!), haproxy: [haproxy.pid], pgbouncer: cluster.bouncer ? [cluster.bouncer.pid] : [] };
      const before = cpuNow(pids, cluster);
      const input: ClosedLoopInput = { url: haproxy.url, format: "json", ridesPerRequest: 1, connections: 64, seconds, firstId: 1, seed: SEED };
      const [result, connections] = await peakConnections(cluster, runLoad<ClosedLoopResult>("bench/load/closed-loop.ts", input));
      const after = cpuNow(pids, cluster);
      await drained(cluster);
      const stored = (await cluster.pool.query("SELECT count(*)::int AS n FROM rides")).rows[0].n;
      if (stored < result.ok) problems.push(`${via} × ${count}: ${result.ok} acknowledged, ${stored} stored`);
      const ack = spread(result.latencies);
      const cores = (key: keyof typeof before) => ((after[key] - before[key]) / result.seconds).toFixed(2);
      lines.push(
        `| ${via} | ${count} | ${Math.round(result.ok / result.seconds).toLocaleString("en")} | ${ms(ack.p50)} | ${ms(ack.p99)} | ` +
          `${result.non2xx + result.errors} | ${connections.pools} + ${connections.pgBoss} | ${cores("service")} | ${cores("postgres")} | ${cores("pgbouncer")} | ${cores("haproxy")} |`,
      );
      console.error(lines.at(-1));
      await haproxy.stop();
      haproxyStop = undefined;
      await stopClustersAndServices();
    }
  }
  return [
    `### Replicas behind HAProxy (single-ride JSON POSTs, 64 connections, ${seconds} s each)`,
    "",
    "| database | replicas | req/s | ack p50 | ack p99 | non-2xx | PostgreSQL connections, peak: pools + pg-boss | cores: service | cores: PostgreSQL | cores: PgBouncer | cores: HAProxy |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...lines,
  ].join("\n");
}

const HEAVY = JSON.stringify({
  measures: ["distinct_users", "count"],
  dimensions: ["vehicle_model_id"],
  time: { from: "2012-12-31T00:00:00+05:30", to: "2013-01-03T00:00:00+05:30", tz: "Asia/Kolkata" },
});

async function analytics(): Promise<string> {
  const cluster = await startCluster({ settings: SETTINGS });
  const service = await startServiceProcess(cluster.url, { root: serviceRoot });
  const rides = options.smoke ? 20 : 300;
  // 1,000-ride CSV batches: the rides the heavy queries read.
  await runLoad<TimedResult>("bench/load/timed.ts", {
    url: service.url, format: "csv", ridesPerRequest: 1_000, firstId: 1, seed: SEED, requests: rides, connections: 4,
  } satisfies TimedInput);
  await drained(cluster);
  const seconds = options.smoke ? 3 : 20;
  const intake = (firstId: number) =>
    runLoad<TimedResult>("bench/load/timed.ts", {
      url: service.url, format: "json", ridesPerRequest: 1, firstId, seed: SEED, phases: [{ rate: 50, seconds }], connections: 16,
    } satisfies TimedInput);
  const describe = (label: string, result: TimedResult, queries = "") => {
    const answered = result.requests.filter((r) => r[5] !== 0);
    const ack = spread(answered.map(([, , , sent, acked]) => acked - sent));
    const statuses: Record<string, number> = {};
    for (const r of result.requests) statuses[r[5]] = (statuses[r[5]] ?? 0) + 1;
    return `| ${label} | ${ms(ack.p50)} | ${ms(ack.p99)} | ${ms(ack.max)} | ${JSON.stringify(statuses)} | ${queries} |`;
  };
  const alone = await intake(10_000_000);

  let querying = true;
  const answers: Record<string, number> = {};
  const tookMs: number[] = [];
  const loops = Array.from({ length: 12 }, async () => {
    while (querying) {
      const started = performance.now();
      const response = await fetch(`${service.url}/v1/query`, { method: "POST", headers: { "content-type": "application/json" }, body: HEAVY })
        .then(async (r) => (await r.arrayBuffer(), r.status), () => "error");
      answers[response] = (answers[response] ?? 0) + 1;
      if (response === 200) tookMs.push(performance.now() - started);
      else await sleep(100);
    }
  });
  await sleep(1_000);
  const beside = await intake(20_000_000);
  querying = false;
  await Promise.all(loops);
  await stopClustersAndServices();
  const query = spread(tookMs);
  return [
    `### Intake while 12 heavy queries run (${rides * 1_000} rides stored; single-ride JSON POSTs at 50/s for ${seconds} s${serviceRoot ? `; service from ${serviceRoot}` : ""})`,
    "",
    "| intake | ack p50 | ack p99 | ack max | answers | queries (12 in a loop) |",
    "|---|---|---|---|---|---|",
    describe("alone", alone),
    describe("beside 12 heavy queries", beside, `answers ${JSON.stringify(answers)}; a 200 took p50 ${ms(query.p50)}, p99 ${ms(query.p99)}`),
  ].join("\n");
}

const started = new Date();
const sections: string[] = [];
try {
  requirePrograms(["pgbouncer", "haproxy"]);
  if (chosen.includes("replicas")) sections.push(await replicas());
  if (chosen.includes("analytics")) sections.push(await analytics());
} finally {
  await cleanUp();
}
const output = sections.join("\n\n");
console.log(output);
if (!options.smoke && !serviceRoot && chosen.length === SCENARIOS.length) {
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`;
  await writeFile(
    new URL("scale-out/results.md", import.meta.url),
    `# Scale-out results\n\n\`npm run bench:scale-out\`, ${started.toISOString()}, ${machine}, Node ${process.version}, ` +
      `embedded PostgreSQL 18 (max_connections=200), Debian's PgBouncer and HAProxy with deploy/'s settings. ` +
      `One run on a machine shared with other work: the figures are noisy.\n\n${output}\n`,
  );
}
if (problems.length > 0) {
  console.error(`bench found problems:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
  process.exit(1);
}
