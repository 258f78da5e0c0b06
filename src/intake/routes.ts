import { createHash } from "node:crypto";
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { describeRoute } from "hono-openapi";
import type pg from "pg";
import * as v from "valibot";
import { isTimeZone } from "../config.ts";
import { ACCEPTED_RESPONSE, problem, RIDES_REQUEST_BODY, UNAVAILABLE } from "../docs/openapi.ts";
import { Problem } from "../http/problem.ts";
import { validateQuery } from "../http/validate-query.ts";
import { getJob, type Job, jobWithKey } from "../jobs/store.ts";
import { MEDIA_TYPES, readRides, TooManyRides, UnreadableBody } from "../rides/index.ts";
import type { RidesWindow } from "../retention/rides-window.ts";
import type { Backlog } from "./backlog.ts";
import type { IdempotencyKey, Stager } from "./stager.ts";

export type IntakeOptions = {
  onRead: (accepted: number, rejected: number) => void;
  pool: pg.Pool;
  stager: Stager;
  backlog: Backlog;
  timeZone: string;
  bodyLimitBytes: number;
  maxRidesPerRequest: number;
  waitStoredTimeoutMs: number;
  ridesWindow: RidesWindow;
};

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

const IntakeQuery = v.strictObject(
  {
    tz: v.optional(v.pipe(v.string(), v.check(isTimeZone, (issue) => `"${issue.input}" is not an IANA time zone such as Asia/Kolkata`))),
    wait: v.optional(v.picklist(["stored"], 'must be "stored"')),
  },
  "is not a known parameter (tz, wait)",
);

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function intakeRoutes(options: IntakeOptions) {
  const { pool, stager, backlog, timeZone, bodyLimitBytes, maxRidesPerRequest, waitStoredTimeoutMs, onRead, ridesWindow } = options;
  const tooLarge = () => {
    throw new Problem(413, `the body is larger than ${bodyLimitBytes} bytes; split it into smaller batches`);
  };
  const limitStream = bodyLimit({ maxSize: bodyLimitBytes, onError: tooLarge });
  // A body with a Content-Length is checked by its header (Node's parser holds it to that
  // length) and then read straight from the socket; hono's bodyLimit would first turn
  // every request into a web stream, a tenth of a small request's CPU. Chunked bodies
  // are counted by bodyLimit as they arrive.
  const limitBody: MiddlewareHandler = (c, next) => {
    const length = c.req.header("content-length");
    if (length === undefined || c.req.header("transfer-encoding") !== undefined) return limitStream(c, next);
    if (Number(length) > bodyLimitBytes) tooLarge();
    return next();
  };
  return new Hono().post(
    "/v1/rides",
    describeRoute({
      tags: ["rides"],
      summary: "Send rides",
      description: "Validates every ride, commits the valid ones with a job and answers 202 once they are committed.",
      parameters: [
        { name: "tz", in: "query", required: false, schema: { type: "string" }, description: `IANA zone for times without an offset (default ${timeZone})` },
        { name: "wait", in: "query", required: false, schema: { type: "string", enum: ["stored"] }, description: "answer 200 with the final job once the rides are stored (bounded by WAIT_STORED_TIMEOUT_MS, then 202)" },
        { name: "Idempotency-Key", in: "header", required: false, schema: { type: "string", maxLength: 255 }, description: "the same key with the same body returns the first job; with another body, 422" },
      ],
      requestBody: RIDES_REQUEST_BODY,
      responses: {
        202: ACCEPTED_RESPONSE,
        400: problem("Unreadable body or bad tz"),
        413: problem("Body or ride count over the limit"),
        415: problem("Unsupported Content-Type"),
        422: problem("No ride is valid; rejected lists every ride with its reasons"),
        503: UNAVAILABLE,
      },
    }),
    limitBody,
    async (c) => {
      const mediaType = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
      if (!MEDIA_TYPES.includes(mediaType)) {
        throw new Problem(415, `Content-Type must be one of ${MEDIA_TYPES.join(", ")}; got "${mediaType || "none"}"`);
      }
      const query = validateQuery(c, IntakeQuery);
      const zone = query.tz ?? timeZone;
      const key = c.req.header("idempotency-key");
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        throw new Problem(400, "header Idempotency-Key: must be 1 to 255 printable ASCII characters without spaces");
      }

      const body = await c.req.arrayBuffer();
      let text: string;
      try {
        text = utf8.decode(body);
      } catch {
        throw new Problem(400, "the body is not valid UTF-8");
      }
      const keptFrom = await ridesWindow();
      let read: ReturnType<typeof readRides>;
      try {
        read = readRides(text, mediaType, zone, maxRidesPerRequest, keptFrom);
      } catch (error) {
        if (error instanceof UnreadableBody) throw new Problem(400, error.message);
        if (error instanceof TooManyRides) throw new Problem(413, error.message);
        throw error;
      }
      const { accepted, rejected } = read;
      onRead(accepted.length, rejected.length);
      if (accepted.length === 0) {
        throw new Problem(422, `none of the ${rejected.length} rides is valid; nothing was accepted`, {
          accepted: 0,
          rejected,
        });
      }

      const idempotency = key === undefined ? undefined : { key, hash: requestHash(mediaType, zone, body) };
      await backlog.admit(accepted.length);
      const staged = await stager.stage(accepted, idempotency);
      const jobId = staged.created ? staged.jobId : await firstJobFor(pool, idempotency!);
      const headers: Record<string, string> = { Location: `/v1/jobs/${jobId}` };
      if (!staged.created) headers["Idempotent-Replayed"] = "true";

      const job = query.wait ? await waitUntilFinished(pool, jobId, waitStoredTimeoutMs) : undefined;
      if (job && job.status !== "queued") return c.json({ ...job, rejected }, 200, headers);
      const status = staged.created ? "queued" : ((await getJob(pool, jobId))?.status ?? "queued");
      return c.json({ job_id: jobId, status, accepted: accepted.length, rejected }, 202, headers);
    },
  );
}

/** The same body sent with another media type or zone is different rides, so they are hashed too. */
function requestHash(mediaType: string, zone: string, body: ArrayBuffer): string {
  return createHash("sha256").update(`${mediaType}\n${zone}\n`).update(new Uint8Array(body)).digest("hex");
}

async function firstJobFor(pool: pg.Pool, { key, hash }: IdempotencyKey): Promise<number> {
  const first = await jobWithKey(pool, key);
  if (first.request_hash !== hash) {
    throw new Problem(422, `Idempotency-Key was first used for job ${first.id} with a different request; use a new key for new rides`, {
      job_id: first.id,
    });
  }
  return first.id;
}

/** Polls the job (it may be moved by another process) until it leaves queued or time runs out. */
async function waitUntilFinished(pool: pg.Pool, jobId: number, timeoutMs: number): Promise<Job | undefined> {
  const deadline = Date.now() + timeoutMs;
  let pause = 10;
  for (;;) {
    const job = await getJob(pool, jobId);
    if (job?.status !== "queued" || Date.now() + pause > deadline) return job;
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 250);
  }
}
