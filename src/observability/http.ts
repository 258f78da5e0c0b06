import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";

declare module "hono" {
  interface ContextVariableMap {
    log: Logger;
  }
}

/**
 * Per request: a child logger carrying the request id (from requestId(), which must run
 * first), one log line at info level, and the request and latency metrics by route.
 */
export function observeRequests(log: Logger, metrics: Metrics): MiddlewareHandler {
  return async function observe(c, next) {
    const started = performance.now();
    const requestLog = log.child({ request_id: c.get("requestId") });
    c.set("log", requestLog);
    await next();
    const seconds = (performance.now() - started) / 1000;
    // The route that answered; a request that matched only middleware matched no route.
    const answered = matchedRoutes(c)[c.req.routeIndex];
    const route = answered && answered.method !== "ALL" ? answered.path : "unmatched";
    const status = c.res.status;
    metrics.request(c.req.method, route, status, seconds);
    requestLog.info({ method: c.req.method, path: c.req.path, route, status, ms: Math.round(seconds * 10_000) / 10 }, "request");
  };
}
