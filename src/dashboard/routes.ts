import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import type pg from "pg";
import * as v from "valibot";
import { problem, queryParameters, UNAVAILABLE } from "../docs/openapi.ts";
import { packageFile, serveFile } from "../http/static-file.ts";
import { timestampParam, validateQuery } from "../http/validate-query.ts";
import type { Analytics } from "../query/analytics.ts";
import { dashboardPage } from "./page.ts";
import { dashboardStats, type DashboardView } from "./stats.ts";

const WindowQuery = v.strictObject(
  {
    days: v.optional(
      v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number"), v.transform(Number), v.minValue(1, "must be at least 1"), v.maxValue(31, "must be at most 31")),
      "7",
    ),
    until: v.optional(timestampParam("2013-01-06T00:00:00Z")),
  },
  "is not a known parameter (days, until)",
);

const windowParameters = queryParameters(WindowQuery, {
  days: "days of rides per hour to chart (default 7)",
  until: "end of the chart's window, its hour counted whole (default: the newest ride's hour)",
});
const JAVASCRIPT = "text/javascript; charset=utf-8";

/** GET / (the dashboard), its live numbers as JSON, and the two scripts it loads (served from this app: no CDN). */
export function dashboardRoutes(pool: pg.Pool, timeZone: string, analytics: Analytics, openStreams: () => number) {
  const stats = async (query: v.InferOutput<typeof WindowQuery>): Promise<DashboardView> => ({
    ...(await dashboardStats({ pool, analytics }, timeZone, query)),
    openStreams: openStreams(),
  });
  return new Hono()
    .get(
      "/",
      describeRoute({
        tags: ["dashboard"],
        summary: "The live dashboard (HTML, without data: its script reads /dashboard/stats)",
        parameters: windowParameters,
        responses: { 200: { description: "HTML page" }, 400: problem("A bad query parameter, named") },
      }),
      (c) => {
        // The page passes its query on to /dashboard/stats: a bad one is refused here already.
        validateQuery(c, WindowQuery);
        return c.html(dashboardPage());
      },
    )
    .get(
      "/dashboard/stats",
      describeRoute({
        tags: ["dashboard"],
        summary: "The dashboard's numbers: intake, backlog, freshness, jobs, rides per hour by travel type",
        parameters: windowParameters,
        responses: { 200: { description: "The numbers", content: { "application/json": { schema: { type: "object" } } } }, 400: problem("A bad query parameter, named"), 503: UNAVAILABLE },
      }),
      async (c) => c.json(await stats(validateQuery(c, WindowQuery))),
    )
    .get(
      "/dashboard/chart.js",
      describeRoute({ tags: ["dashboard"], summary: "Chart.js, served from the app", responses: { 200: { description: "JavaScript" } } }),
      serveFile(packageFile("chart.js", "./chart.umd.min.js"), JAVASCRIPT),
    )
    .get(
      "/dashboard/dashboard.js",
      describeRoute({ tags: ["dashboard"], summary: "The dashboard's refresh script", responses: { 200: { description: "JavaScript" } } }),
      serveFile(fileURLToPath(new URL("./browser/dashboard.js", import.meta.url)), JAVASCRIPT),
    );
}
