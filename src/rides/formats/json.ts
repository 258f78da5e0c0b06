import { type Candidate, UnreadableBody } from "./candidate.ts";
import { tooDeep } from "./nesting.ts";

/** One ride object or an array of them. */
export function parseJson(text: string): Candidate[] {
  const deep = tooDeep(text);
  if (deep) throw new UnreadableBody(`the body is not rides: ${deep}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UnreadableBody(`the body is not valid JSON: ${(error as Error).message}`);
  }
  if (Array.isArray(value)) return value.map((input) => ({ input }));
  if (typeof value === "object" && value !== null) return [{ input: value }];
  throw new UnreadableBody("the body must be a ride object or an array of rides");
}
