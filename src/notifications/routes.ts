import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { describeRoute } from "hono-openapi";
import * as v from "valibot";
import { JOB_EVENTS_RESPONSE, problem, queryParameters } from "../docs/openapi.ts";
import { Problem, RETRY_AFTER_SECONDS } from "../http/problem.ts";
import { validateQuery } from "../http/validate-query.ts";
import type { JobStatus } from "../jobs/store.ts";
import type { JobStream } from "./job-stream.ts";

const EVENT_STATUSES = ["done", "failed", "lost"] as const;

const EventsQuery = v.strictObject(
  {
    status: v.optional(
      v.pipe(
        v.string(),
        v.transform((text) => text.split(",").map((status) => status.trim())),
        v.check((list) => list.every((status) => (EVENT_STATUSES as readonly string[]).includes(status)), `must be ${EVENT_STATUSES.join(", ")} or a comma-separated list of them`),
      ),
    ),
  },
  "is not a known parameter (status)",
);

export type JobEventRoutesOptions = {
  stream: JobStream;
  /** SSE_MAX_OPEN: streams open in this process at most; one more is a 503. */
  maxOpen: number;
  onOpen: (open: number) => void;
};

/** GET /v1/jobs/events: registered before /v1/jobs/:id, which would take "events" for an id. */
export function jobEventRoutes({ stream, maxOpen, onOpen }: JobEventRoutesOptions) {
  return new Hono().get(
    "/v1/jobs/events",
    describeRoute({
      tags: ["jobs"],
      summary: "Job transitions (done, failed, lost) as Server-Sent Events, resumable with Last-Event-ID",
      parameters: [
        ...queryParameters(EventsQuery, { status: "only these outcomes, comma-separated (default: done,failed,lost)" }),
        { name: "Last-Event-ID", in: "header", required: false, schema: { type: "integer", minimum: 0 }, description: "resume after this event (as long as its job is retained)" },
      ],
      responses: {
        200: JOB_EVENTS_RESPONSE,
        400: problem("A bad query parameter or Last-Event-ID, named"),
        503: problem(`SSE_MAX_OPEN streams are open in this process, or the database is unreachable (Retry-After says when to retry)`),
      },
    }),
    async (c) => {
      const query = validateQuery(c, EventsQuery);
      const lastEventId = c.req.header("last-event-id");
      if (lastEventId !== undefined && !/^\d{1,15}$/.test(lastEventId.trim())) {
        throw new Problem(400, "header Last-Event-ID: must be the id of an event received (a whole number)");
      }
      if (stream.open() >= maxOpen) {
        throw new Problem(503, `${maxOpen} event streams are open in this process (SSE_MAX_OPEN); try again later`, {}, {
          "retry-after": String(RETRY_AFTER_SECONDS),
        });
      }
      const statuses = new Set<JobStatus>((query.status ?? EVENT_STATUSES) as JobStatus[]);
      const subscriber = stream.subscribe(lastEventId === undefined ? undefined : Number(lastEventId), statuses);
      onOpen(stream.open());
      // Proxies buffer a response unless told not to; an event stream must flow as written.
      c.header("x-accel-buffering", "no");
      c.header("cache-control", "no-cache");
      return streamSSE(c, async (sse) => {
        sse.onAbort(() => subscriber.close());
        try {
          for (;;) {
            const reason = await subscriber.next();
            if (reason === "closed") return;
            if (reason === "ping") {
              await sse.write(": keep-alive\n\n");
              continue;
            }
            for (const event of subscriber.take()) await sse.writeSSE({ id: String(event.seq), data: JSON.stringify(event.job) });
          }
        } finally {
          subscriber.close();
          onOpen(stream.open());
        }
      });
    },
  );
}
