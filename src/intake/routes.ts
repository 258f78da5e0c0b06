import { createHash } from "node:crypto";
import type { HttpBindings } from "@hono/node-server";
import { type Context, Hono } from "hono";
import { describeRoute } from "hono-openapi";
import type pg from "pg";
import * as v from "valibot";
import { isTimeZone } from "../config.ts";
import { ACCEPTED_RESPONSE, problem, RIDES_REQUEST_BODY, UNAVAILABLE } from "../docs/openapi.ts";
import type { MemoryBudget } from "../http/memory-budget.ts";
import { mediaTypeOf } from "../http/media-type.ts";
import { Problem, RETRY_AFTER_SECONDS } from "../http/problem.ts";
import { readBody } from "../http/read-body.ts";
import { validateQuery } from "../http/validate-query.ts";
import { getJob, jobWithKey } from "../jobs/store.ts";
import { MEDIA_TYPES, type Quarantine, readRides, rideReport, TooManyRides, UnreadableBody } from "../rides/index.ts";
import type { RidesWindow } from "../retention/rides-window.ts";
import type { Backlog } from "./backlog.ts";
import type { JobEvents } from "./job-events.ts";
import { CommitOutcomeUnknown, type IdempotencyKey, type Stager } from "./stager.ts";
import { waitForOutcome } from "./wait-stored.ts";

export type IntakeOptions = {
  onRead: (accepted: number, rejected: number) => void;
  /** The rejected rides committed to the quarantine with a new job. */
  onQuarantined: (quarantine: Quarantine) => void;
  pool: pg.Pool;
  stager: Stager;
  backlog: Backlog;
  timeZone: string;
  bodyLimitBytes: number;
  memoryBudget: MemoryBudget;
  budgetWaitMs: number;
  maxRidesPerRequest: number;
  waitStoredTimeoutMs: number;
  ridesWindow: RidesWindow;
  /** Hears jobs leave queued, for ?wait=stored. */
  events: JobEvents;
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
  const { pool, stager, backlog, timeZone, bodyLimitBytes, memoryBudget, budgetWaitMs, maxRidesPerRequest, waitStoredTimeoutMs, onRead, onQuarantined, ridesWindow, events } =
    options;

  /** Reads, checks and stages the body, holding its bytes in the memory budget until the rides are staged or refused. */
  async function take(c: Context<{ Bindings: HttpBindings }>, mediaType: string, zone: string, key: string | undefined) {
    const { body, release } = await readBody(c, { limitBytes: bodyLimitBytes, budget: memoryBudget, budgetWaitMs });
    try {
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
      const report = rideReport(read);
      if (accepted.length === 0) {
        throw new Problem(422, `none of the ${rejected.length} rides is valid; nothing was accepted`, { accepted: 0, ...report });
      }
      const idempotency = key === undefined ? undefined : { key, hash: requestHash(mediaType, zone, body) };
      // Only these outlive the wait for the commit: the body, its text and its rides (the
      // stager keeps their literal) are garbage while many requests wait together.
      const { quarantine } = read;
      const count = accepted.length;
      await backlog.admit(count);
      const staged = await stager.stage(accepted, idempotency, quarantine.json).catch((error) => {
        throw error instanceof CommitOutcomeUnknown ? outcomeUnknown(key) : error;
      });
      if (staged.created) onQuarantined(quarantine);
      return { staged, idempotency, accepted: count, report };
    } finally {
      release();
    }
  }

  return new Hono<{ Bindings: HttpBindings }>().post(
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
        400: problem("Unreadable body, bad tz or a Content-Type sent twice"),
        408: problem("The body did not arrive within BODY_TIMEOUT_MS"),
        413: problem("Body or ride count over the limit"),
        415: problem("Unsupported Content-Type"),
        422: problem("No ride is valid; rejected lists the first rides with their reasons, rejected_count all of them"),
        502: problem("The database connection broke during the commit: outcome unknown, resend with the same Idempotency-Key"),
        503: UNAVAILABLE,
      },
    }),
    async (c) => {
      const mediaType = mediaTypeOf(c, MEDIA_TYPES);
      const query = validateQuery(c, IntakeQuery);
      const zone = query.tz ?? timeZone;
      const key = c.req.header("idempotency-key");
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        throw new Problem(400, "header Idempotency-Key: must be 1 to 255 printable ASCII characters without spaces");
      }

      const { staged, idempotency, accepted, report } = await take(c, mediaType, zone, key);
      const jobId = staged.created ? staged.jobId : await firstJobFor(pool, idempotency!);
      const headers: Record<string, string> = { Location: `/v1/jobs/${jobId}` };
      if (!staged.created) headers["Idempotent-Replayed"] = "true";

      // The rides are committed from here on: a database that fails while the answer waits
      // for the move turns it into the 202 it already deserves, never into a 503.
      const job = query.wait ? await waitForOutcome({ events, pool, jobId, timeoutMs: waitStoredTimeoutMs }).catch(() => undefined) : undefined;
      if (job && job.status !== "queued") return c.json({ ...job, ...report }, 200, headers);
      const status = staged.created ? "queued" : ((await getJob(pool, jobId))?.status ?? "queued");
      return c.json({ job_id: jobId, status, accepted, ...report }, 202, headers);
    },
  );
}

/** Not a 503, which promises nothing was taken: the sender is told how to find out. */
function outcomeUnknown(key: string | undefined): Problem {
  const lost = "the connection to the database broke while this request's rides were being committed: they may or may not have been taken";
  return new Problem(
    502,
    key === undefined
      ? `${lost}. Sending the request again is safe (a ride sent again replaces itself) but may leave a second job; an Idempotency-Key would tell which`
      : `${lost}. Send the request again with the same Idempotency-Key: if they were taken you get their job (Idempotent-Replayed: true), if not they are taken then`,
    { outcome: "unknown" },
    { "retry-after": String(RETRY_AFTER_SECONDS) },
  );
}

/** The same body sent with another media type or zone is different rides, so they are hashed too. */
function requestHash(mediaType: string, zone: string, body: Buffer): string {
  return createHash("sha256").update(`${mediaType}\n${zone}\n`).update(body).digest("hex");
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
