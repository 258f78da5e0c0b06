import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { Problem } from "../http/problem.ts";

export const SCOPES = ["ingest", "read"] as const;
export type Scope = (typeof SCOPES)[number];
export type ApiKey = { secret: string; scopes: Scope[] };

const MIN_SECRET_LENGTH = 16;
const SECRET = /^[\x21-\x7e]+$/;

/**
 * API_KEYS: comma-separated `secret:scopes` entries, scopes joined by `+`; a bare secret
 * has every scope. Errors name the entry by position, never by its secret.
 */
export function parseApiKeys(text: string): ApiKey[] {
  return text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry, i) => {
      const at = entry.lastIndexOf(":");
      const secret = at < 0 ? entry : entry.slice(0, at);
      const scopes = at < 0 ? [...SCOPES] : entry.slice(at + 1).split("+");
      const name = `API_KEYS entry ${i + 1}`;
      if (secret.length < MIN_SECRET_LENGTH || !SECRET.test(secret)) {
        throw new Error(`${name}: the secret must be at least ${MIN_SECRET_LENGTH} printable characters without spaces or commas`);
      }
      for (const scope of scopes) {
        if (!SCOPES.includes(scope as Scope)) throw new Error(`${name}: scopes must be ${SCOPES.join(", ")} joined by +`);
      }
      return { secret, scopes: scopes as Scope[] };
    });
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/** The scopes of a presented secret (undefined: no such key), compared as described below. */
export function keyScopes(keys: ApiKey[]): (secret: string) => Scope[] | undefined {
  const known = keys.map((key) => ({ digest: digest(key.secret), scopes: key.scopes }));
  return (secret) => {
    const presented = digest(secret);
    let found: Scope[] | undefined;
    for (const key of known) {
      if (timingSafeEqual(key.digest, presented)) found = key.scopes;
    }
    return found;
  };
}

/**
 * Bearer auth for a route prefix: 401 without a known key, 403 when the key has none of
 * `scopes`. Digests have one length, so timingSafeEqual compares every key in constant
 * time, and every key is compared so the answer time does not say which one matched.
 * No keys configured means the service is loopback-only (enforced by the config), so
 * every request passes.
 */
export function apiKeyAuth(keys: ApiKey[]) {
  const scopesOf = keyScopes(keys);
  return (...scopes: Scope[]): MiddlewareHandler =>
    async (c, next) => {
      if (keys.length === 0) return next();
      const match = /^Bearer +(\S+) *$/i.exec(c.req.header("authorization") ?? "");
      const found = scopesOf(match?.[1] ?? "");
      if (!match || !found) {
        throw new Problem(401, "send a valid API key as Authorization: Bearer <key>", {}, {
          "www-authenticate": 'Bearer realm="rides-ingest"',
        });
      }
      if (!scopes.some((scope) => found.includes(scope))) {
        throw new Problem(403, `this API key lacks the ${scopes.join(" or ")} scope needed for ${c.req.method} ${c.req.path}`);
      }
      return next();
    };
}
