import type { HttpBindings } from "@hono/node-server";
import type { MiddlewareHandler } from "hono";
import { Problem } from "./problem.ts";

/**
 * HTTP/1.1 requires a Host header (RFC 9112, section 3.2). Node's own check answers an
 * empty 400, so the server leaves it to this one, which answers problem+json.
 */
export function requireHost(): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.header("host") === undefined && (c.env as HttpBindings).incoming.httpVersion === "1.1") {
      throw new Problem(400, "header Host is required in HTTP/1.1");
    }
    return next();
  };
}
