import { Hono } from "hono";
import type pg from "pg";
import { type ApiKey, apiKeyAuth } from "./auth/api-keys.ts";
import { refuseWhileDraining } from "./http/draining.ts";
import { healthRoutes } from "./http/health.ts";
import { notFound, onError } from "./http/problem.ts";
import type { Backlog } from "./intake/backlog.ts";
import { intakeRoutes } from "./intake/routes.ts";
import type { Stager } from "./intake/stager.ts";
import { jobRoutes } from "./jobs/routes.ts";
import { storedRoutes } from "./stored/routes.ts";

export type AppDeps = {
  pool: pg.Pool;
  stager: Stager;
  backlog: Backlog;
  apiKeys: ApiKey[];
  workersRunning: () => boolean;
  draining: () => boolean;
  timeZone: string;
  bodyLimitBytes: number;
  maxRidesPerRequest: number;
  waitStoredTimeoutMs: number;
};

export function createApp(deps: AppDeps) {
  const auth = apiKeyAuth(deps.apiKeys);
  const app = new Hono()
    .use("*", refuseWhileDraining(deps.draining))
    // Every /v1 route needs a key; a route that needs one scope says so here.
    .use("/v1/*", auth("ingest", "read"))
    .on("POST", "/v1/rides", auth("ingest"))
    .on("GET", "/v1/rides/*", auth("read"))
    .route("/", healthRoutes(deps.pool, deps.workersRunning))
    .route("/", intakeRoutes(deps))
    .route("/", jobRoutes(deps.pool))
    .route("/", storedRoutes(deps.pool));
  app.onError(onError);
  app.notFound(notFound);
  return app;
}
