import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { PgBoss } from "pg-boss";
import { createApp } from "./app.ts";
import type { Config } from "./config.ts";
import { createPool } from "./db/client.ts";
import { answerClientError } from "./http/client-error.ts";
import { createMemoryBudget, type MemoryBudget } from "./http/memory-budget.ts";
import { applyMigrations } from "./db/migrate.ts";
import { createBacklog } from "./intake/backlog.ts";
import { createStager } from "./intake/stager.ts";
import { createMover } from "./mover/move.ts";
import { createPartitions } from "./mover/partitions.ts";
import { startMoverWorker } from "./mover/worker.ts";
import { createFolder } from "./rollup/folder.ts";
import { createLogger } from "./observability/logger.ts";
import { createMetrics } from "./observability/metrics.ts";

export type Service = { url: string; app: ReturnType<typeof createApp>; memoryBudget: MemoryBudget; stop: () => Promise<void> };

/** Database → migrations → mover workers and rollup folder → HTTP. stop() undoes it in reverse, letting in-flight work finish. */
export async function startService(config: Config & { databaseUrl: string }, log = createLogger(config.logLevel)): Promise<Service> {
  await applyMigrations(config.databaseUrl, config.stagingDurability);
  const pool = createPool(config.databaseUrl);

  const boss = new PgBoss({ connectionString: config.databaseUrl, max: 4, useListenNotify: true });
  boss.on("error", (error) => log.warn({ error: error.message }, "pg-boss error"));
  await boss.start();
  const mover = createMover(pool, createPartitions(pool, config.timeZone), config.moverChunkRows, config.timeZone);
  if (await mover.backfillRollups()) log.warn("filled the rollups from the rides already stored");
  const folder = createFolder(pool, config.timeZone, (error) =>
    log.warn({ error: (error as Error).message }, "could not fold the rollup log"),
  );
  const worker = await startMoverWorker(
    boss,
    pool,
    mover,
    (error) => log.warn({ error: (error as Error).message }, "could not wake the mover"),
    folder.wake,
  );
  let workersRunning = true;
  let draining = false;

  const stager = createStager(pool, config.timeZone, worker.wake);
  const memoryBudget = createMemoryBudget(config.intakeMemoryBudgetBytes);
  const app = createApp({
    pool,
    stager,
    backlog: createBacklog(pool, config.stagingMaxRides),
    apiKeys: config.apiKeys,
    waitStoredTimeoutMs: config.waitStoredTimeoutMs,
    workersRunning: () => workersRunning,
    draining: () => draining,
    timeZone: config.timeZone,
    bodyLimitBytes: config.bodyLimitBytes,
    memoryBudget,
    maxRidesPerRequest: config.maxRidesPerRequest,
    log,
    metrics: createMetrics(pool, memoryBudget),
    query: {
      maxSpanDays: config.queryMaxSpanDays,
      maxRows: config.queryMaxRows,
      defaultZone: config.timeZone,
      rollupZone: config.timeZone,
      timeoutMs: config.queryTimeoutMs,
    },
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve(
      {
        fetch: app.fetch,
        hostname: config.host,
        port: config.port,
        serverOptions: {
          headersTimeout: config.headersTimeoutMs,
          // Node counts this from the request's first byte, so the body gets at least BODY_TIMEOUT_MS.
          requestTimeout: config.headersTimeoutMs + config.bodyTimeoutMs,
          // How often Node looks for requests past those timeouts (its default, 30 s, would stretch them).
          connectionsCheckingInterval: Math.min(1_000, config.headersTimeoutMs),
          // Answered by requireHost as problem+json instead of Node's empty 400.
          requireHostHeader: false,
        },
      },
      () => resolve(s),
    );
  });
  server.on("clientError", answerClientError(config));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`,
    app,
    memoryBudget,
    async stop() {
      // New connections are refused at once, new requests on open ones get a 503, and
      // requests already in flight are answered.
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if ("closeIdleConnections" in server) server.closeIdleConnections();
      await closed;
      workersRunning = false;
      // The mover finishes the chunk it is in (each chunk is one transaction).
      await boss.stop({ graceful: true, timeout: 30_000, close: true });
      await folder.settled();
      await pool.end();
    },
  };
}
