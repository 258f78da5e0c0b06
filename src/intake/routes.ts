import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { describeRoute } from "hono-openapi";
import { ACCEPTED_RESPONSE, problem, RIDES_REQUEST_BODY, UNAVAILABLE } from "../docs/openapi.ts";
import { isTimeZone } from "../config.ts";
import { Problem } from "../http/problem.ts";
import { MEDIA_TYPES, readRides, TooManyRides, UnreadableBody } from "../rides/index.ts";
import type { Stager } from "./stager.ts";

export type IntakeOptions = {
  stager: Stager;
  timeZone: string;
  bodyLimitBytes: number;
  maxRidesPerRequest: number;
  onRead: (accepted: number, rejected: number) => void;
};

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

export function intakeRoutes({ stager, timeZone, bodyLimitBytes, maxRidesPerRequest, onRead }: IntakeOptions) {
  return new Hono().post(
    "/v1/rides",
    describeRoute({
      tags: ["rides"],
      summary: "Send rides",
      description: "Validates every ride, commits the valid ones with a job and answers 202 once they are committed.",
      parameters: [{ name: "tz", in: "query", required: false, schema: { type: "string" }, description: `IANA zone for times without an offset (default ${timeZone})` }],
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
    bodyLimit({
      maxSize: bodyLimitBytes,
      onError: () => {
        throw new Problem(413, `the body is larger than ${bodyLimitBytes} bytes; split it into smaller batches`);
      },
    }),
    async (c) => {
      const mediaType = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
      if (!MEDIA_TYPES.includes(mediaType)) {
        throw new Problem(415, `Content-Type must be one of ${MEDIA_TYPES.join(", ")}; got "${mediaType || "none"}"`);
      }
      const zone = c.req.query("tz") ?? timeZone;
      if (!isTimeZone(zone)) throw new Problem(400, `tz "${zone}" is not an IANA time zone such as Asia/Kolkata`);

      let text: string;
      try {
        text = utf8.decode(await c.req.arrayBuffer());
      } catch {
        throw new Problem(400, "the body is not valid UTF-8");
      }
      let read: ReturnType<typeof readRides>;
      try {
        read = readRides(text, mediaType, zone, maxRidesPerRequest);
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
      const job = await stager.stage(accepted);
      return c.json({ job_id: job.jobId, status: "queued", accepted: accepted.length, rejected }, 202, {
        Location: `/v1/jobs/${job.jobId}`,
      });
    },
  );
}
