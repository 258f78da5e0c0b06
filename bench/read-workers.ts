import { performance } from "node:perf_hooks";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { createPool } from "../src/db/client.ts";
import { applyMigrations } from "../src/db/migrate.ts";
import { jobToStage } from "../src/intake/stager.ts";
import { loadTravelTypes, readRides } from "../src/rides/index.ts";
import { bodySource, MEDIA_TYPE } from "./generate/rides.ts";
import type { Bench, Row } from "./scenarios.ts";

/**
 * Issue 15 asks whether reading and validating in worker_threads would pay. The one-day
 * bodies (1,000 rides each, the producer's CSV) go through what the intake does to a body
 * before its group commit (src/intake/routes.ts and the stager: decode, read, validate,
 * the staged literal and the months), on the main thread alone, and then handed to one
 * and to two worker threads. The timed part has no HTTP and no database. With workers,
 * the main thread still hands each body over and takes its literal back: its busy time per
 * ride is what no worker takes off it, so its inverse bounds what any number of cores
 * could give.
 */

const ZONE = "Asia/Kolkata";
const SEED = 20130101;
const MAX_RIDES = 10_000;
const utf8 = new TextDecoder("utf-8", { fatal: true });

type ReadJob = ReturnType<typeof jobToStage> & { rejected: string | null };

function readJob(body: Uint8Array): ReadJob {
  const read = readRides(utf8.decode(body), MEDIA_TYPE.csv, ZONE, MAX_RIDES);
  return { ...jobToStage(read.accepted, ZONE), rejected: read.quarantine.json };
}

type WorkerInput = { role: "read-worker"; databaseUrl: string };

if (!isMainThread && (workerData as WorkerInput | undefined)?.role === "read-worker") {
  const pool = createPool((workerData as WorkerInput).databaseUrl, { max: 1 });
  await loadTravelTypes(pool);
  await pool.end();
  parentPort!.on("message", (body: Uint8Array) => parentPort!.postMessage(readJob(body)));
  parentPort!.postMessage("ready");
}

async function startWorker(databaseUrl: string): Promise<Worker> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: "read-worker", databaseUrl } satisfies WorkerInput });
  await new Promise<void>((resolve, reject) => {
    worker.once("message", () => resolve());
    worker.once("error", reject);
  });
  return worker;
}

type Pass = { seconds: number; mainBusySeconds: number; rides: number };

function onMainThread(bodies: Buffer[]): Pass {
  const started = performance.now();
  let rides = 0;
  for (const body of bodies) rides += readJob(body).rideCount;
  const seconds = (performance.now() - started) / 1000;
  return { seconds, mainBusySeconds: seconds, rides };
}

/** Keeps two bodies queued at each worker, so none waits for the main thread while it has work. */
async function onWorkers(bodies: Buffer[], workers: Worker[]): Promise<Pass> {
  const before = performance.eventLoopUtilization();
  const started = performance.now();
  let next = 0;
  let done = 0;
  let rides = 0;
  await new Promise<void>((resolve, reject) => {
    const send = (worker: Worker) => {
      if (next >= bodies.length) return;
      // A copy, as a body read from its socket is a buffer of its own to hand over.
      const body = new Uint8Array(bodies[next++]);
      worker.postMessage(body, [body.buffer]);
    };
    for (const worker of workers) {
      worker.removeAllListeners("message").removeAllListeners("error");
      worker.on("error", reject);
      worker.on("message", (job: ReadJob) => {
        rides += job.rideCount;
        if (++done === bodies.length) resolve();
        else send(worker);
      });
      send(worker);
      send(worker);
    }
  });
  const seconds = (performance.now() - started) / 1000;
  const busy = performance.eventLoopUtilization(performance.eventLoopUtilization(), before);
  return { seconds, mainBusySeconds: busy.active / 1000, rides };
}

export async function readWorkers(bench: Bench): Promise<Row[]> {
  const count = bench.smoke ? 10 : 288;
  const body = bodySource({ seed: SEED, format: "csv", ridesPerRequest: 1_000, firstId: 1, distinct: count });
  const bodies = Array.from({ length: count }, (_, i) => Buffer.from(body(i)));
  const database = await bench.cluster.createDatabase();
  try {
    await applyMigrations(database.url, "unlogged");
    const pool = createPool(database.url, { max: 1 });
    await loadTravelTypes(pool);
    await pool.end();
    const workers = [await startWorker(database.url), await startWorker(database.url)];
    try {
      const setups = [
        { server: "main thread", run: () => Promise.resolve(onMainThread(bodies)) },
        { server: "1 worker thread", run: () => onWorkers(bodies, workers.slice(0, 1)) },
        { server: "2 worker threads", run: () => onWorkers(bodies, workers) },
      ];
      // Warmed once each, then timed in mirrored order so drift of a shared machine hits them alike.
      for (const setup of setups) await setup.run();
      const totals = setups.map(() => ({ seconds: 0, mainBusySeconds: 0, rides: 0 }));
      for (const i of bench.smoke ? [0, 1, 2] : [0, 1, 2, 2, 1, 0]) {
        const pass = await setups[i].run();
        totals[i].seconds += pass.seconds;
        totals[i].mainBusySeconds += pass.mainBusySeconds;
        totals[i].rides += pass.rides;
      }
      const alone = totals[0].rides / totals[0].seconds;
      const passes = bench.smoke ? 1 : 2;
      if (totals.some((total) => total.rides !== passes * count * 1_000)) {
        bench.problems.push(`read workers: ${totals.map((t) => t.rides).join(", ")} rides accepted, not ${passes * count * 1_000} each`);
      }
      return setups.map(({ server }, i) => {
        const { seconds, mainBusySeconds, rides } = totals[i];
        const mainMicros = (mainBusySeconds * 1e6) / rides;
        return {
          scenario: `read + validate (${count} × 1,000-ride CSV bodies, no HTTP or database)`,
          server,
          ridesPerSecond: rides / seconds,
          ack: {},
          non2xx: 0,
          note:
            i === 0
              ? `main thread busy ${mainMicros.toFixed(1)} µs per ride`
              : `${(rides / seconds / alone).toFixed(2)}× the main thread alone; main thread busy ${mainMicros.toFixed(1)} µs per ride, ` +
                `which bounds any number of workers at ${Math.round(1e6 / mainMicros).toLocaleString("en")} rides/s`,
        };
      });
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
  } finally {
    await database.drop();
  }
}
