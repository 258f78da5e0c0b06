import type { Context } from "hono";
import * as v from "valibot";
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
