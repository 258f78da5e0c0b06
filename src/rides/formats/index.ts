import type { Candidate } from "./candidate.ts";
import { parseCsv } from "./csv.ts";
import { parseJson } from "./json.ts";
import { parseNdjson } from "./ndjson.ts";

export { type Candidate, MAX_ERRORS_PER_RIDE, UnreadableBody } from "./candidate.ts";

/** The body formats POST /v1/rides reads, by media type. */
export const FORMATS: Record<string, (text: string) => Candidate[]> = {
  "application/json": parseJson,
  "application/x-ndjson": parseNdjson,
  "application/ndjson": parseNdjson,
  "text/csv": parseCsv,
};
