import type { MiddlewareHandler } from "hono";
import { Problem } from "../http/problem.ts";

/** localhost and its subdomains (RFC 6761), 127.0.0.0/8 and [::1], with or without a port. */
const LOOPBACK_HOST = /^(?:(?:[a-z0-9-]+\.)*localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

/**
 * Without API keys anyone who reaches the port may read and write, which the config
 * allows only on loopback. A web page can still reach loopback through a name it
 * controls that it re-points at 127.0.0.1 (DNS rebinding); its requests then carry that
 * name as Host, so only loopback names and addresses are answered.
 */
export function onlyLoopbackHosts(): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header("host") ?? "";
    if (LOOPBACK_HOST.test(host)) return next();
    throw new Problem(
      421,
      `Host "${host.slice(0, 100)}" is not a loopback name or address: without API_KEYS the service answers only requests to localhost, 127.0.0.1 or [::1]`,
    );
  };
}
