import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { PgBoss } from "pg-boss";
import { createApp } from "./app.ts";
import { type Config, loadPostgresTimeZones } from "./config.ts";
import { createPool } from "./db/client.ts";
import { answerClientError } from "./http/client-error.ts";
import { createMemoryBudget, type MemoryBudget } from "./http/memory-budget.ts";
import { applyMigrations } from "./db/migrate.ts";
import { createBacklog } from "./intake/backlog.ts";
import { createJobEvents } from "./intake/job-events.ts";
import { createJobStream } from "./notifications/job-stream.ts";
import { startWebhookWorker } from "./webhooks/worker.ts";
import { createStager } from "./intake/stager.ts";
import { createStreamIntake } from "./intake/stream.ts";
import { createJobPartitions } from "./jobs/partitions.ts";
import { createMover } from "./mover/move.ts";
import { createPartitions } from "./mover/partitions.ts";
import { startMoverWorker } from "./mover/worker.ts";
import { loadTravelTypes } from "./rides/index.ts";
import { createFolder } from "./rollup/folder.ts";
import { createLogger } from "./observability/logger.ts";
import { createMetrics } from "./observability/metrics.ts";
import { createAnalytics } from "./query/analytics.ts";
import { createPruner, type Pruner } from "./retention/pruner.ts";
import { createRidesWindow } from "./retention/rides-window.ts";

export type Service = { url: string; app: ReturnType<typeof createApp>; memoryBudget: MemoryBudget; pruner: Pruner; stop: () => Promise<void> };

/**
 * Database → migrations → mover workers and rollup folder → HTTP. stop() undoes it in reverse, letting in-flight work finish.
 * Three connections: DATABASE_URL (intake, mover, jobs; may be PgBouncer in transaction mode), DIRECT_DATABASE_URL
 * (migrations' session lock, pg-boss and its LISTEN) and ANALYTICS_DATABASE_URL (heavy reads; may be a standby).
 */
export async function startService(config: Config & { databaseUrl: string }, log = createLogger(config.logLevel)): Promise<Service> {
  const directUrl = config.directDatabaseUrl ?? config.databaseUrl;
  // DATABASE_URL apart from DIRECT_DATABASE_URL is taken to be a transaction pooler.
  const prepare = config.databaseUrl === directUrl;
  await applyMigrations(directUrl, config.stagingDurability);
  const pool = createPool(config.databaseUrl, { max: config.databasePoolSize });
  // What validation needs from the database, read once: the zones PostgreSQL knows, the travel types.
  await Promise.all([loadPostgresTimeZones(pool, config.timeZone), loadTravelTypes(pool)]).catch(async (error) => {
    await pool.end();
    throw error;
  });
  const analytics = createAnalytics({
    pool: createPool(config.analyticsDatabaseUrl ?? config.databaseUrl, {
      max: config.analyticsPoolSize,
      connectTimeoutMs: config.analyticsConnectTimeoutMs,
      // The statement timeout stops a query on a live server; this, one on a server that stopped answering.
      queryTimeoutMs: config.queryTimeoutMs + config.analyticsConnectTimeoutMs,
    }),
    running: config.analyticsPoolSize,
    queued: config.queryQueueLimit,
    waitMs: config.queryTimeoutMs,
  });
  const ensureJobPartitions = createJobPartitions(pool, config.jobsPartitionSize);
  await ensureJobPartitions();
  const memoryBudget = createMemoryBudget(config.intakeMemoryBudgetBytes);
  const metrics = createMetrics({ pool, analyticsPool: analytics.pool, memoryBudget });

  const boss = new PgBoss({ connectionString: directUrl, max: 4, useListenNotify: true });
  boss.on("error", (error) => log.warn({ error: error.message }, "pg-boss error"));
  await boss.start();
  const mover = createMover({ pool, ensurePartitions: createPartitions(pool, config.timeZone), chunkRows: config.moverChunkRows, zone: config.timeZone, prepare });
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
  // Its detaches hold a session setting and cannot run in a transaction: past PgBouncer, on DIRECT_DATABASE_URL.
  const directPool = createPool(directUrl, { max: 2 });
  const ridesWindow = createRidesWindow(pool, config.ridesRetentionMonths !== undefined);
  const pruner = createPruner({
    pool: directPool,
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
  let shuttingDown = false;
  let draining = false;

  const stager = createStager({
    pool,
    partitionZone: config.timeZone,
    idempotencyKeyTtlHours: config.idempotencyKeyTtlHours,
    ensureJobPartitions,
    onStaged: worker.wake,
    prepare,
  });
  const backlog = createBacklog(pool, config.stagingMaxRides);
  // Notifications: SSE and webhooks read job_events when a job finishes. The webhooks have
  // a pg-boss and a pool of their own, so a slow receiver never holds the mover's connections.
  const jobStream = createJobStream({
    pool,
    pingIntervalMs: config.sse.pingIntervalMs,
    onError: (error) => log.warn({ error: (error as Error).message }, "job event stream: could not read job events"),
  });
  await jobStream.start();
  const webhookPool = createPool(config.databaseUrl, { max: 2 });
  const webhookBoss = new PgBoss({ connectionString: directUrl, max: 2, supervise: false, schedule: false, migrate: false });
  webhookBoss.on("error", (error) => log.warn({ error: error.message }, "pg-boss (webhooks) error"));
  await webhookBoss.start();
  const webhooks = await startWebhookWorker({
    boss: webhookBoss,
    pool: webhookPool,
    settings: config.webhooks,
    onDelivery: metrics.webhookDelivery,
    onError: (error) => log.warn({ error: (error as Error).message }, "webhooks: could not hand job events to the delivery queue"),
  });
  const events = createJobEvents({
    listenUrl: directUrl,
    pool,
    onError: (error) => log.warn({ error: (error as Error).message }, "job events: could not listen or read jobs"),
    onNotice: () => {
      jobStream.wake();
      webhooks.wake();
    },
  });
  await events.start();
  const streams = createStreamIntake({
    stager,
    backlog,
    memoryBudget,
    ridesWindow,
    events,
    apiKeys: config.apiKeys,
    timeZone: config.timeZone,
    bodyLimitBytes: config.bodyLimitBytes,
    maxRidesPerRequest: config.maxRidesPerRequest,
    limits: config.stream,
    draining: () => draining,
    metrics,
    log,
  });
  const app = createApp({
    pool,
    stager,
    backlog,
    openStreams: streams.openStreams,
    notifications: { jobStream, sseMaxOpen: config.sse.maxOpen, allowPrivateWebhookUrls: config.webhooks.allowPrivateUrls },
    apiKeys: config.apiKeys,
    waitStoredTimeoutMs: config.waitStoredTimeoutMs,
    events,
    jobsRetentionDays: config.jobsRetentionDays,
    onRetried: worker.wake,
    ridesWindow,
    workersRunning: () => workersRunning,
    draining: () => draining,
    shuttingDown: () => shuttingDown,
    timeZone: config.timeZone,
    bodyLimitBytes: config.bodyLimitBytes,
    memoryBudget,
    budgetWaitMs: config.intakeBudgetWaitMs,
    maxRidesPerRequest: config.maxRidesPerRequest,
    log,
    metrics,
    query: {
      analytics,
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
  server.on("upgrade", streams.upgrade);
  server.on("clientError", answerClientError(config));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`,
    app,
    memoryBudget,
    pruner,
    async stop() {
      // /readyz turns 503 first, so a load balancer stops sending here while requests are still served.
      shuttingDown = true;
      if (config.drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.drainDelayMs));
      // New connections are refused at once, new requests on open ones get a 503, and
      // requests already in flight are answered.
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if ("closeIdleConnections" in server) server.closeIdleConnections();
      // Streams answer every frame they took, then close with 1001; event streams just end (clients resume with Last-Event-ID).
      jobStream.stop();
      await streams.close();
      await closed;
      await events.stop();
      workersRunning = false;
      await pruner.stop();
      // The mover finishes the chunk it is in (each chunk is one transaction).
      await boss.stop({ graceful: true, timeout: 30_000, close: true });
      // A delivery in flight ends within WEBHOOK_TIMEOUT_MS; one cut short is retried (at least once).
      webhooks.stop();
      await webhookBoss.stop({ graceful: true, timeout: config.webhooks.timeoutMs + 1_000, close: true });
      await folder.settled();
      await Promise.all([pool.end(), analytics.pool.end(), directPool.end(), webhookPool.end()]);
    },
  };
}
