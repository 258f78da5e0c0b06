import { Hono } from "hono";
import { requestId } from "hono/request-id";
import type pg from "pg";
import { dashboardRoutes } from "./dashboard/routes.ts";
import { docsRoutes } from "./docs/openapi.ts";
import { type ApiKey, apiKeyAuth } from "./auth/api-keys.ts";
import { onlyLoopbackHosts } from "./auth/loopback-host.ts";
import { refuseWhileDraining } from "./http/draining.ts";
import { healthRoutes } from "./http/health.ts";
import type { MemoryBudget } from "./http/memory-budget.ts";
import { requireHost } from "./http/require-host.ts";
import { notFound, onError } from "./http/problem.ts";
import type { Backlog } from "./intake/backlog.ts";
import type { JobEvents } from "./intake/job-events.ts";
import { intakeRoutes } from "./intake/routes.ts";
import type { Stager } from "./intake/stager.ts";
import { streamRoutes } from "./intake/stream.ts";
import { jobRoutes } from "./jobs/routes.ts";
import type { JobStream } from "./notifications/job-stream.ts";
import { jobEventRoutes } from "./notifications/routes.ts";
import { webhookRoutes } from "./webhooks/routes.ts";
import { quarantineRoutes } from "./quarantine/routes.ts";
import { observeRequests } from "./observability/http.ts";
import type { Logger } from "./observability/logger.ts";
import type { Metrics } from "./observability/metrics.ts";
import { metricsRoutes } from "./observability/routes.ts";
import { type QueryDeps, queryRoutes } from "./query/routes.ts";
import type { RidesWindow } from "./retention/rides-window.ts";
import { storedRoutes } from "./stored/routes.ts";

export type AppDeps = {
  pool: pg.Pool;
  stager: Stager;
  backlog: Backlog;
  apiKeys: ApiKey[];
  workersRunning: () => boolean;
  draining: () => boolean;
  /** From SIGTERM on: /readyz answers 503 while requests are still served (DRAIN_DELAY_MS). */
  shuttingDown: () => boolean;
  timeZone: string;
  bodyLimitBytes: number;
  memoryBudget: MemoryBudget;
  /** INTAKE_BUDGET_WAIT_MS. */
  budgetWaitMs: number;
  maxRidesPerRequest: number;
  log: Logger;
  metrics: Metrics;
  waitStoredTimeoutMs: number;
  /** Jobs leaving queued, heard from every process (?wait=stored). */
  events: JobEvents;
  jobsRetentionDays: number;
  /** A retried job's rides are staged again: the mover is woken as after any staging. */
  onRetried: () => void;
  query: Omit<QueryDeps, "ridesWindow">;
  ridesWindow: RidesWindow;
  openStreams: () => number;
  /** Notifications: GET /v1/jobs/events and /v1/webhooks. */
  notifications: { jobStream: JobStream; sseMaxOpen: number; allowPrivateWebhookUrls: boolean };
};

export function createApp(deps: AppDeps) {
  const auth = apiKeyAuth(deps.apiKeys);
  const app = new Hono()
    .use(requestId())
    .use(observeRequests(deps.log, deps.metrics))
    .use("*", requireHost())
    .use("*", deps.apiKeys.length === 0 ? onlyLoopbackHosts() : (_, next) => next())
    .use("*", refuseWhileDraining(deps.draining))
    // Every /v1 route needs a key; a route that needs one scope says so here. The
    // dashboard's page holds no data: its numbers and the metrics need a read key.
    .use("/v1/*", auth("ingest", "read"))
    .on("GET", ["/dashboard/stats", "/metrics"], auth("read"))
    .on("POST", "/v1/rides", auth("ingest"))
    .on("POST", "/v1/jobs/:id/retry", auth("ingest"))
    .on("GET", "/v1/rides/:id", auth("read"))
    .on("POST", "/v1/query", auth("read"))
    .on("GET", "/v1/jobs/events", auth("read"))
    .use("/v1/webhooks/*", auth("ingest"))
    .use("/v1/webhooks", auth("ingest"))
    .route("/", healthRoutes(deps.pool, deps.workersRunning, deps.shuttingDown))
    .route("/", intakeRoutes({ ...deps, onRead: deps.metrics.ridesRead, onQuarantined: deps.metrics.quarantined }))
    .route("/", streamRoutes())
    .route("/", jobEventRoutes({ stream: deps.notifications.jobStream, maxOpen: deps.notifications.sseMaxOpen, onOpen: deps.metrics.sseOpen }))
    .route("/", webhookRoutes(deps.pool, deps.notifications.allowPrivateWebhookUrls))
    .route("/", jobRoutes(deps.pool, deps.jobsRetentionDays, deps.onRetried))
    .route("/", quarantineRoutes(deps.pool, deps.jobsRetentionDays))
    .route("/", storedRoutes(deps.pool))
    .route("/", metricsRoutes(deps.metrics))
    .route("/", dashboardRoutes(deps.pool, deps.timeZone, deps.query.analytics, deps.openStreams))
    .route("/", queryRoutes({ ridesWindow: deps.ridesWindow, ...deps.query }));
  app.route("/", docsRoutes(app, deps.timeZone));
  app.onError(onError);
  app.notFound(notFound);
  return app;
}
