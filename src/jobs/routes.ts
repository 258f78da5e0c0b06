import { Hono } from "hono";
import type pg from "pg";
import { describeRoute } from "hono-openapi";
import * as v from "valibot";
import { ID_PARAMETER, JOB_LIST_RESPONSE, JOB_RESPONSE, problem, queryParameters, UNAVAILABLE } from "../docs/openapi.ts";
import { Problem } from "../http/problem.ts";
import { idParam, timestampParam, validateQuery } from "../http/validate-query.ts";
import { getJob, JOB_STATUSES, listJobs, wasPruned } from "./store.ts";

const ListQuery = v.strictObject(
  {
    status: v.optional(v.picklist(JOB_STATUSES, `must be one of ${JOB_STATUSES.join(", ")}`)),
    since: v.optional(timestampParam("2026-01-01T00:00:00Z")),
    limit: v.optional(
      v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number"), v.transform(Number), v.minValue(1, "must be at least 1"), v.maxValue(1000, "must be at most 1000")),
      "100",
    ),
  },
  "is not a known parameter (status, since, limit)",
);

export function jobRoutes(pool: pg.Pool, retentionDays: number) {
  return new Hono()
    .get(
      "/v1/jobs",
      describeRoute({
        tags: ["jobs"],
        summary: "List jobs to reconcile, newest first",
        parameters: queryParameters(ListQuery),
        responses: { 200: JOB_LIST_RESPONSE, 400: problem("A bad query parameter, named"), 503: UNAVAILABLE },
      }),
      async (c) => {
        const query = validateQuery(c, ListQuery);
        return c.json({ jobs: await listJobs(pool, query) });
      },
    )
    .get(
      "/v1/jobs/:id",
      describeRoute({
        tags: ["jobs"],
        summary: "A job's outcome: queued, done, failed or lost",
        parameters: [ID_PARAMETER],
        responses: { 200: JOB_RESPONSE, 404: problem("No such job, or pruned after JOBS_RETENTION_DAYS"), 503: UNAVAILABLE },
      }),
      async (c) => {
        const id = idParam(c.req.param("id"));
        const job = id === undefined ? undefined : await getJob(pool, id);
        if (!job && id !== undefined && (await wasPruned(pool, id))) {
          throw new Problem(404, `job ${id} was pruned: finished jobs are kept for ${retentionDays} days (JOBS_RETENTION_DAYS)`);
        }
        if (!job) throw new Problem(404, `no job ${c.req.param("id")}`);
        return c.json(job);
      },
    );
}
