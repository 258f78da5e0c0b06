import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { loadConfig, loadPostgresTimeZones } from "../../src/config.ts";
import { createPool } from "../../src/db/client.ts";
import { onError } from "../../src/http/problem.ts";
import { loadTravelTypes, MEDIA_TYPES, readRides, type Ride, UnreadableBody } from "../../src/rides/index.ts";

export const config = loadConfig();
export const databaseUrl = config.databaseUrl ?? fail("DATABASE_URL must be set for a baseline server");

function fail(message: string): never {
  throw new Error(message);
}

/**
 * A comparison server with the service's own body reading and validation, so the bench
 * compares what happens to valid rides after that: `store` is the design under test.
 * It answers 201 once store resolves, and stops on SIGTERM after `close`.
 */
export async function serveBaseline(store: (rides: Ride[]) => Promise<void>, close: () => Promise<void>) {
  const pool = createPool(databaseUrl);
  await Promise.all([loadPostgresTimeZones(pool, config.timeZone), loadTravelTypes(pool)]);
  await pool.end();
  const app = new Hono()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .post("/v1/rides", async (c) => {
      const mediaType = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
      if (!MEDIA_TYPES.includes(mediaType)) return c.json({ error: `unsupported ${mediaType}` }, 415);
      try {
        const { accepted, rejected } = readRides(await c.req.text(), mediaType, config.timeZone, config.maxRidesPerRequest);
        if (accepted.length === 0) return c.json({ accepted: 0, rejected }, 422);
        await store(accepted);
        return c.json({ accepted: accepted.length, rejected }, 201);
      } catch (error) {
        if (error instanceof UnreadableBody) return c.json({ error: error.message }, 400);
        throw error;
      }
    });
  app.onError(onError);
  const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port });
  process.on("SIGTERM", () => {
    server.close(() => void close().then(() => process.exit(0)));
  });
}
