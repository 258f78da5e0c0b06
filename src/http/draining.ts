import type { MiddlewareHandler } from "hono";
import { Problem, RETRY_AFTER_SECONDS } from "./problem.ts";

/**
 * Once shutdown has begun, a request that arrives on a kept-alive connection is new
 * work: it is turned away (503, and the connection closed so the client reconnects,
 * behind a load balancer to another instance) while requests already in flight finish.
 */
export function refuseWhileDraining(draining: () => boolean): MiddlewareHandler {
  return async (c, next) => {
    if (!draining()) return next();
    throw new Problem(503, "the service is shutting down; nothing from this request was accepted, retry", {}, {
      "retry-after": String(RETRY_AFTER_SECONDS),
      connection: "close",
    });
  };
}
