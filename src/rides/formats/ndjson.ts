import type { Candidate } from "./candidate.ts";
import { tooDeep } from "./nesting.ts";

/** One ride per line; a line that is not JSON rejects that ride only. Blank lines are skipped. */
export function parseNdjson(text: string): Candidate[] {
  const candidates: Candidate[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const deep = tooDeep(line);
    if (deep) {
      candidates.push({ errors: [{ path: "", message: `line ${i + 1} is not a ride: ${deep}` }] });
      continue;
    }
    try {
      candidates.push({ input: JSON.parse(line) });
    } catch (error) {
      candidates.push({ errors: [{ path: "", message: `line ${i + 1} is not valid JSON: ${(error as Error).message}` }] });
    }
  }
  return candidates;
}
