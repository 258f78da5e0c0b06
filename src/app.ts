import { Hono } from "hono";
import type pg from "pg";
import { healthRoutes } from "./http/health.ts";
import { notFound, onError } from "./http/problem.ts";
import { intakeRoutes } from "./intake/routes.ts";
import type { Stager } from "./intake/stager.ts";
import { jobRoutes } from "./jobs/routes.ts";
import { type QueryDeps, queryRoutes } from "./query/routes.ts";
import { storedRoutes } from "./stored/routes.ts";

export type AppDeps = {
  pool: pg.Pool;
  stager: Stager;
  workersRunning: () => boolean;
  timeZone: string;
  bodyLimitBytes: number;
  maxRidesPerRequest: number;
  query: Omit<QueryDeps, "pool">;
};

export function createApp(deps: AppDeps) {
  const app = new Hono()
    .route("/", healthRoutes(deps.pool, deps.workersRunning))
    .route("/", intakeRoutes(deps))
    .route("/", jobRoutes(deps.pool))
    .route("/", storedRoutes(deps.pool))
    .route("/", queryRoutes({ pool: deps.pool, ...deps.query }));
  app.onError(onError);
  app.notFound(notFound);
  return app;
}
