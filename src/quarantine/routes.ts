import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import type pg from "pg";
import * as v from "valibot";
import { ID_PARAMETER, problem, queryParameters, REJECTIONS_RESPONSE, UNAVAILABLE } from "../docs/openapi.ts";
import { Problem } from "../http/problem.ts";
import { idParam, timestampParam, validateQuery } from "../http/validate-query.ts";
import { getJob, jobRejections, listRejections, type Rejection, wasPruned } from "../jobs/store.ts";

/** Most rejections one page holds. */
export const MAX_REJECTIONS_PER_PAGE = 1000;

const limit = v.optional(
  v.pipe(
    v.string(),
    v.regex(/^\d+$/, "must be a whole number"),
    v.transform(Number),
    v.minValue(1, "must be at least 1"),
    v.maxValue(MAX_REJECTIONS_PER_PAGE, `must be at most ${MAX_REJECTIONS_PER_PAGE}`),
  ),
  "100",
);

const JobQuery = v.strictObject(
  { limit, cursor: v.optional(v.pipe(v.string(), v.regex(/^\d{1,9}$/, "must be the next_cursor of the previous page"), v.transform(Number))) },
  "is not a known parameter (limit, cursor)",
);

const CURSOR = /^(\d{1,16})\.(\d{1,9})$/;
const ListQuery = v.strictObject(
  {
    since: v.optional(timestampParam("2026-01-01T00:00:00Z")),
    until: v.optional(timestampParam("2026-01-02T00:00:00Z")),
    field: v.optional(v.pipe(v.string(), v.maxLength(100, "must be at most 100 characters (a ride field, or a key a sender used)"))),
    limit,
    cursor: v.optional(
      v.pipe(
        v.string(),
        v.regex(CURSOR, "must be the next_cursor of the previous page"),
        v.transform((text) => {
          const [, jobId, index] = CURSOR.exec(text)!;
          return { jobId: Number(jobId), index: Number(index) };
        }),
      ),
    ),
  },
  "is not a known parameter (since, until, field, limit, cursor)",
);

const page = (rejections: Rejection[], full: boolean, cursorOf: (last: Rejection) => string) => ({
  rejections,
  next_cursor: full ? cursorOf(rejections[rejections.length - 1]) : null,
});

/** The quarantine: every rejected ride of every accepted request, kept as long as its job. */
export function quarantineRoutes(pool: pg.Pool, retentionDays: number) {
  return new Hono()
    .get(
      "/v1/jobs/:id/rejections",
      describeRoute({
        tags: ["jobs"],
        summary: "A job's rejected rides, in request order, with their reasons and raw input",
        parameters: [ID_PARAMETER, ...queryParameters(JobQuery, { cursor: "next_cursor of the previous page" })],
        responses: { 200: REJECTIONS_RESPONSE, 400: problem("A bad query parameter, named"), 404: problem("No such job, or pruned"), 503: UNAVAILABLE },
      }),
      async (c) => {
        const query = validateQuery(c, JobQuery);
        const id = idParam(c.req.param("id"));
        if (id === undefined || !(await getJob(pool, id))) {
          if (id !== undefined && (await wasPruned(pool, id))) {
            throw new Problem(404, `job ${id} was pruned with its rejections: finished jobs are kept for ${retentionDays} days (JOBS_RETENTION_DAYS)`);
          }
          throw new Problem(404, `no job ${c.req.param("id")}`);
        }
        const rejections = await jobRejections(pool, id, query.cursor ?? -1, query.limit);
        return c.json(page(rejections, rejections.length === query.limit, (last) => String(last.index)));
      },
    )
    .get(
      "/v1/rejections",
      describeRoute({
        tags: ["jobs"],
        summary: "Rejected rides of every kept job, newest first, for reconciliation",
        parameters: queryParameters(ListQuery, {
          since: "received at or after",
          until: "received before",
          field: "only rides with a reason on this path (a ride field; empty for reasons about the whole ride)",
          cursor: "next_cursor of the previous page",
        }),
        responses: { 200: REJECTIONS_RESPONSE, 400: problem("A bad query parameter, named"), 503: UNAVAILABLE },
      }),
      async (c) => {
        const query = validateQuery(c, ListQuery);
        const rejections = await listRejections(pool, { ...query, before: query.cursor });
        return c.json(page(rejections, rejections.length === query.limit, (last) => `${last.job_id}.${last.index}`));
      },
    );
}
