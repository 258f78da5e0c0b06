import { Hono } from "hono";
import { requestId } from "hono/request-id";
import type pg from "pg";
import { dashboardRoutes } from "./dashboard/routes.ts";
import { docsRoutes } from "./docs/openapi.ts";
import { healthRoutes } from "./http/health.ts";
import { notFound, onError } from "./http/problem.ts";
import { intakeRoutes } from "./intake/routes.ts";
import type { Stager } from "./intake/stager.ts";
import { jobRoutes } from "./jobs/routes.ts";
import { observeRequests } from "./observability/http.ts";
import type { Logger } from "./observability/logger.ts";
import type { Metrics } from "./observability/metrics.ts";
import { metricsRoutes } from "./observability/routes.ts";
import { storedRoutes } from "./stored/routes.ts";

export type AppDeps = {
  pool: pg.Pool;
  stager: Stager;
  workersRunning: () => boolean;
  timeZone: string;
  bodyLimitBytes: number;
  maxRidesPerRequest: number;
  log: Logger;
  metrics: Metrics;
};

export function createApp(deps: AppDeps) {
  const app = new Hono()
    .use(requestId())
    .use(observeRequests(deps.log, deps.metrics))
    .route("/", healthRoutes(deps.pool, deps.workersRunning))
    .route("/", intakeRoutes({ ...deps, onRead: deps.metrics.ridesRead }))
    .route("/", jobRoutes(deps.pool))
    .route("/", storedRoutes(deps.pool))
    .route("/", metricsRoutes(deps.metrics))
    .route("/", dashboardRoutes(deps.pool, deps.timeZone));
  app.route("/", docsRoutes(app, deps.timeZone));
  app.onError(onError);
  app.notFound(notFound);
  return app;
}
