import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import { UNAVAILABLE } from "../docs/openapi.ts";
import type { Metrics } from "./metrics.ts";

export function metricsRoutes(metrics: Metrics) {
  return new Hono().get(
    "/metrics",
    describeRoute({
      tags: ["operations"],
      summary: "Prometheus metrics",
      responses: { 200: { description: "Prometheus text format", content: { "text/plain": { schema: { type: "string" } } } }, 503: UNAVAILABLE },
    }),
    async (c) => c.body(await metrics.scrape(), 200, { "content-type": metrics.contentType }),
  );
}
