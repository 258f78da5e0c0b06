import { Hono } from "hono";
import type pg from "pg";
import { describeRoute } from "hono-openapi";
import * as v from "valibot";
import { ID_PARAMETER, JOB_LIST_RESPONSE, JOB_RESPONSE, problem, queryParameters, UNAVAILABLE } from "../docs/openapi.ts";
import { Problem } from "../http/problem.ts";
import { idParam, timestampParam, validateQuery } from "../http/validate-query.ts";
import { retryJob } from "./retry.ts";
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

export function jobRoutes(pool: pg.Pool, retentionDays: number, onRetried: () => void) {
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
    )
    .post(
      "/v1/jobs/:id/retry",
      describeRoute({
        tags: ["jobs"],
        summary: "Stage a failed job's kept rides again, under the same job id",
        description:
          "Once the cause of the failure is fixed. Answers 202 with the job queued again (attempts one more); it then ends done or failed as any job. A ride a later job stored meanwhile is left as that job stored it and counts as superseded.",
        parameters: [ID_PARAMETER],
        responses: {
          202: JOB_RESPONSE,
          404: problem("No such job, or pruned"),
          409: problem("The job is not failed (queued or done), or its rides were not kept (lost in a crash before any retry, or failed before this version)"),
          503: UNAVAILABLE,
        },
      }),
      async (c) => {
        const id = idParam(c.req.param("id"));
        const retried = id === undefined ? { outcome: "not found" as const } : await retryJob(pool, id);
        if (retried.outcome === "not found") {
          if (id !== undefined && (await wasPruned(pool, id))) throw new Problem(404, `job ${id} was pruned: finished jobs are kept for ${retentionDays} days (JOBS_RETENTION_DAYS)`);
          throw new Problem(404, `no job ${c.req.param("id")}`);
        }
        if (retried.outcome === "not failed") {
          throw new Problem(409, `job ${id} is ${retried.status}, not failed: only a failed job is retried`, { job_status: retried.status });
        }
        if (retried.outcome === "rides not kept") {
          const why = retried.status === "lost" ? "they were lost in a database crash" : "it failed before failed jobs kept their rides";
          throw new Problem(409, `job ${id} is ${retried.status} and its rides were not kept (${why}): send them again`, { job_status: retried.status });
        }
        onRetried();
        return c.json(await getJob(pool, id!), 202, { Location: `/v1/jobs/${id}` });
      },
    );
}
