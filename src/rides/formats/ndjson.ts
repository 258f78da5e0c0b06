import type { Candidate } from "./candidate.ts";
import { MAX_JSON_DEPTH, readErrors, scanJson } from "./json-text.ts";

const BLANK = /^[ \t]*\r?$/;

/**
 * One ride per line (LF, or CRLF: the CR is JSON whitespace); a line that is not one
 * JSON value rejects its rides only, each on its own. Blank lines are skipped.
 */
export function parseNdjson(text: string): Candidate[] {
  const candidates: Candidate[] = [];
  const lines = text.split("\n");
  let lineStart = 0;
  for (let i = 0; i < lines.length; lineStart += lines[i].length + 1, i++) {
    const line = lines[i];
    if (BLANK.test(line)) continue;
    const at = { from: lineStart, to: lineStart + line.length };
    const where = `line ${i + 1}`;
    const scan = scanJson(line, { inArray: false });
    if (scan.tooDeep) {
      candidates.push({ errors: [{ path: "", message: `${where} is not a ride: it nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep` }], ...at });
      continue;
    }
    if (scan.elements.length > 1) {
      // Two rides run together (a lost line break, or a lone CR as one): each is its own rejected ride.
      const message = `${where} holds ${scan.elements.length} JSON values; NDJSON takes one ride per line, ended by LF or CRLF`;
      for (const element of scan.elements) {
        const input = tryParse(line.slice(element.start, element.end));
        candidates.push({ input, errors: [{ path: "", message }], from: lineStart + element.start, to: lineStart + element.end });
      }
      continue;
    }
    try {
      const input = JSON.parse(line);
      const errors = readErrors(line, scan.elements[0], input);
      candidates.push(errors.length > 0 ? { input, errors, ...at } : { input, ...at });
    } catch (error) {
      candidates.push({ errors: [{ path: "", message: `${where} is not valid JSON: ${(error as Error).message}` }], ...at });
    }
  }
  return candidates;
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
