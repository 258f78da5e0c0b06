import type { Context } from "hono";
import * as v from "valibot";
import { parseTime } from "../rides/time.ts";
import { Problem } from "./problem.ts";

/** Query parameters through a valibot schema; a bad one is a 400 naming the parameter. */
export function validateQuery<S extends v.GenericSchema>(c: Context, schema: S): v.InferOutput<S> {
  const result = v.safeParse(schema, c.req.query());
  if (result.success) return result.output;
  const issue = result.issues[0];
  const name = issue.path?.map((item) => String(item.key)).join(".") ?? "query";
  throw new Problem(400, `query parameter ${name}: ${issue.message}`);
}

/** A path id that is a positive safe integer, or undefined (callers answer 404). */
export function idParam(text: string): number | undefined {
  if (!/^[1-9]\d{0,15}$/.test(text)) return undefined;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}

/**
 * A timestamp query parameter (RFC 3339: date, time and offset) → the instant as ISO
 * 8601 UTC. The one reader for every route, so an impossible date such as 2026-02-30 is
 * a 400 everywhere, never a silent 2 March.
 */
export const timestampParam = (example: string) => {
  const expected = `must be an ISO 8601 timestamp with offset, e.g. ${example}`;
  return v.pipe(
    v.string(),
    v.isoTimestamp(expected),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const parsed = parseTime(dataset.value, "UTC", { requireOffset: true });
      if (parsed.ok) return new Date(parsed.instant).toISOString();
      addIssue({ message: `${expected}: ${parsed.message}` });
      return NEVER;
    }),
  );
};
