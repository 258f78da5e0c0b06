import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { isTimeZone } from "../config.ts";
import { Problem } from "../http/problem.ts";
import { MEDIA_TYPES, readRides, TooManyRides, UnreadableBody } from "../rides/index.ts";
import type { Stager } from "./stager.ts";

export type IntakeOptions = { stager: Stager; timeZone: string; bodyLimitBytes: number; maxRidesPerRequest: number };

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

export function intakeRoutes({ stager, timeZone, bodyLimitBytes, maxRidesPerRequest }: IntakeOptions) {
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
    limitBody,
    async (c) => {
      const mediaType = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
      if (!MEDIA_TYPES.includes(mediaType)) {
        throw new Problem(415, `Content-Type must be one of ${MEDIA_TYPES.join(", ")}; got "${mediaType || "none"}"`);
      }
      // Checking a zone builds an Intl formatter (a quarter of a small request's CPU), so only a sent one is checked.
      const tz = c.req.query("tz");
      if (tz !== undefined && !isTimeZone(tz)) throw new Problem(400, `tz "${tz}" is not an IANA time zone such as Asia/Kolkata`);
      const zone = tz ?? timeZone;

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
