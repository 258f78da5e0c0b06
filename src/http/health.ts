import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import type pg from "pg";
import { migrationsApplied } from "../db/migrate.ts";

/**
 * /healthz: the process answers. /readyz: it can do its work (database, migrations, mover)
 * and is not shutting down: a load balancer stops sending to it while it still serves.
 */
export function healthRoutes(pool: pg.Pool, workersRunning: () => boolean, shuttingDown: () => boolean) {
  return new Hono()
    .get(
      "/healthz",
      describeRoute({ tags: ["operations"], summary: "The process answers", responses: { 200: { description: "Up" } } }),
      (c) => c.json({ status: "ok" }),
    )
    .get(
      "/readyz",
      describeRoute({
        tags: ["operations"],
        summary: "Database reachable, migrations applied, mover running, not shutting down",
        responses: { 200: { description: "Ready, with the checks" }, 503: { description: "Not ready, with the failing checks" } },
      }),
      async (c) => {
        const checks = { database: false, migrations: false, workers: workersRunning(), accepting: !shuttingDown() };
        try {
          checks.migrations = await migrationsApplied(pool);
          checks.database = true;
        } catch {
          // reported as database: false below
        }
        const ready = checks.database && checks.migrations && checks.workers && checks.accepting;
        return c.json({ status: ready ? "ready" : "not ready", checks }, ready ? 200 : 503);
      },
    );
}
