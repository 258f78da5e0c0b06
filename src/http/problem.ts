import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { isDatabaseUnavailable } from "../db/errors.ts";

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  426: "Upgrade Required",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

/** An RFC 9457 problem: thrown anywhere in a handler, turned into a response by onError. */
export class Problem extends HTTPException {
  readonly detail: string;
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    status: ContentfulStatusCode,
    detail: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(status, { message: detail });
    this.detail = detail;
    this.extra = extra;
    this.headers = headers;
  }
}

export const RETRY_AFTER_SECONDS = 2;

/** The RFC 9457 fields of a problem: an HTTP answer's body, a stream's error frame. */
export const problemBody = (problem: Problem, instance: string, requestId: string | undefined) => ({
  type: "about:blank",
  title: TITLES[problem.status] ?? "Error",
  status: problem.status,
  detail: problem.detail,
  instance,
  request_id: requestId,
  ...problem.extra,
});

export function problemResponse(c: Context, problem: Problem): Response {
  const body = problemBody(problem, c.req.path, c.get("requestId"));
  return c.body(JSON.stringify(body), problem.status as ContentfulStatusCode, {
    "content-type": "application/problem+json",
    ...problem.headers,
  });
}

/** A thrown error as the problem its sender is told; undefined for an unexpected one (a 500). */
export function knownProblem(error: Error): Problem | undefined {
  if (error instanceof Problem) return error;
  if (error instanceof HTTPException) return new Problem(error.status as ContentfulStatusCode, error.message || TITLES[error.status] || "Error");
  if (isDatabaseUnavailable(error)) {
    return new Problem(503, "the database is unavailable; nothing from this request was accepted, retry later", {}, {
      "retry-after": String(RETRY_AFTER_SECONDS),
    });
  }
  return undefined;
}

export const UNEXPECTED = "an unexpected error occurred; nothing from this request was accepted";

/** The one place an error becomes a response: no stack, SQL or secret reaches the client. */
export function onError(error: Error, c: Context): Response {
  const problem = knownProblem(error);
  if (problem) return problemResponse(c, problem);
  c.get("log")?.error({ request_id: c.get("requestId"), path: c.req.path, error: error.message }, "unhandled error");
  return problemResponse(c, new Problem(500, UNEXPECTED));
}

export const notFound = (c: Context) => problemResponse(c, new Problem(404, `no route for ${c.req.method} ${c.req.path}`));
