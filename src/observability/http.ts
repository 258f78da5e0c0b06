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
 * Per request: one log line at info level carrying the request id (from requestId(),
 * which must run first), and the request and latency metrics by route. The lines carry
 * the id as a field rather than through a child logger: a child per request cost the
 * intake a few KB of garbage on every request, at every log level.
 */
export function observeRequests(log: Logger, metrics: Metrics): MiddlewareHandler {
  return async function observe(c, next) {
    const started = performance.now();
    c.set("log", log);
    await next();
    const seconds = (performance.now() - started) / 1000;
    // The route that answered; a request that matched only middleware matched no route.
    const answered = matchedRoutes(c)[c.req.routeIndex];
    const route = answered && answered.method !== "ALL" ? answered.path : "unmatched";
    const status = c.res.status;
    metrics.request(c.req.method, route, status, seconds);
    if (log.isLevelEnabled("info")) log.info({ request_id: c.get("requestId"), method: c.req.method, path: c.req.path, route, status, ms: Math.round(seconds * 10_000) / 10 }, "request");
  };
}
