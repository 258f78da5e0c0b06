import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { PgBoss } from "pg-boss";
import { createApp } from "./app.ts";
import type { Config } from "./config.ts";
import { createPool } from "./db/client.ts";
import { applyMigrations } from "./db/migrate.ts";
import { createBacklog } from "./intake/backlog.ts";
import { createStager } from "./intake/stager.ts";
import { createJobPartitions } from "./jobs/partitions.ts";
import { createMover } from "./mover/move.ts";
import { createPartitions } from "./mover/partitions.ts";
import { startMoverWorker } from "./mover/worker.ts";
import { createFolder } from "./rollup/folder.ts";
import { createLogger } from "./observability/logger.ts";
import { createMetrics } from "./observability/metrics.ts";
import { createPruner, type Pruner } from "./retention/pruner.ts";
import { createRidesWindow } from "./retention/rides-window.ts";

export type Service = { url: string; app: ReturnType<typeof createApp>; pruner: Pruner; stop: () => Promise<void> };

/** Database → migrations → mover workers and rollup folder → HTTP. stop() undoes it in reverse, letting in-flight work finish. */
export async function startService(config: Config & { databaseUrl: string }, log = createLogger(config.logLevel)): Promise<Service> {
  await applyMigrations(config.databaseUrl, config.stagingDurability);
  const pool = createPool(config.databaseUrl);
  const ensureJobPartitions = createJobPartitions(pool, config.jobsPartitionSize);
  await ensureJobPartitions();
  const metrics = createMetrics(pool);

  const boss = new PgBoss({ connectionString: config.databaseUrl, max: 4, useListenNotify: true });
  boss.on("error", (error) => log.warn({ error: error.message }, "pg-boss error"));
  await boss.start();
  const mover = createMover(pool, createPartitions(pool, config.timeZone), config.moverChunkRows, config.timeZone);
  if (await mover.backfillRollups()) log.warn("filled the rollups from the rides already stored");
  const folder = createFolder(pool, config.timeZone, (error) =>
    log.warn({ error: (error as Error).message }, "could not fold the rollup log"),
  );
  const worker = await startMoverWorker({
    boss,
    pool,
    mover,
    ensureJobPartitions,
    onError: (error) => log.warn({ error: (error as Error).message }, "could not wake the mover or sweep for lost jobs"),
    onLost: (jobs) => log.warn({ jobs }, "jobs whose staged rides PostgreSQL lost in a crash are marked lost"),
    afterMove: folder.wake,
  });
  const ridesWindow = createRidesWindow(pool, config.ridesRetentionMonths !== undefined);
  const pruner = createPruner({
    pool,
    jobsRetentionDays: config.jobsRetentionDays,
    idempotencyKeyTtlHours: config.idempotencyKeyTtlHours,
    ridesRetentionMonths: config.ridesRetentionMonths,
    zone: config.timeZone,
    intervalMs: config.pruneIntervalMinutes * 60_000,
    log,
    onPruned: (report) => {
      metrics.pruned(report);
      ridesWindow.invalidate();
    },
    onScheduled: metrics.pruneScheduled,
  });
  pruner.start();
  let workersRunning = true;
  let draining = false;

  const stager = createStager({
    pool,
    partitionZone: config.timeZone,
    idempotencyKeyTtlHours: config.idempotencyKeyTtlHours,
    ensureJobPartitions,
    onStaged: worker.wake,
  });
  const app = createApp({
    pool,
    stager,
    backlog: createBacklog(pool, config.stagingMaxRides),
    apiKeys: config.apiKeys,
    waitStoredTimeoutMs: config.waitStoredTimeoutMs,
    jobsRetentionDays: config.jobsRetentionDays,
    ridesWindow,
    workersRunning: () => workersRunning,
    draining: () => draining,
    timeZone: config.timeZone,
    bodyLimitBytes: config.bodyLimitBytes,
    maxRidesPerRequest: config.maxRidesPerRequest,
    log,
    metrics,
    query: {
      maxSpanDays: config.queryMaxSpanDays,
      maxRows: config.queryMaxRows,
      defaultZone: config.timeZone,
      rollupZone: config.timeZone,
      timeoutMs: config.queryTimeoutMs,
    },
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`,
    app,
    pruner,
    async stop() {
      // New connections are refused at once, new requests on open ones get a 503, and
      // requests already in flight are answered.
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if ("closeIdleConnections" in server) server.closeIdleConnections();
      await closed;
      workersRunning = false;
      await pruner.stop();
      // The mover finishes the chunk it is in (each chunk is one transaction).
      await boss.stop({ graceful: true, timeout: 30_000, close: true });
      await folder.settled();
      await pool.end();
    },
  };
}
