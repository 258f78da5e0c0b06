import { type Candidate, UnreadableBody } from "./candidate.ts";
import { MAX_JSON_DEPTH, readErrors, scanJson } from "./json-text.ts";

/** One ride object or an array of them. */
export function parseJson(text: string): Candidate[] {
  const scan = scanJson(text, { inArray: /^\s*\[/.test(text) });
  if (scan.tooDeep) throw new UnreadableBody(`the body is not rides: it nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UnreadableBody(`the body is not valid JSON: ${(error as Error).message}`);
  }
  const rides = Array.isArray(value) ? value : typeof value === "object" && value !== null ? [value] : undefined;
  if (!rides) throw new UnreadableBody("the body must be a ride object or an array of rides");
  return rides.map((input, i) => {
    const element = scan.elements[i];
    const errors = readErrors(text, element, input);
    const from = element?.start;
    const to = element?.end;
    return errors.length > 0 ? { input, errors, from, to } : { input, from, to };
  });
}
