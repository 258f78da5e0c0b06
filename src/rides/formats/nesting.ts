/** Rides are flat (an array of objects of scalars); a body nested deeper than this is not rides. */
export const MAX_JSON_DEPTH = 8;

/** Deepest [ / { nesting of JSON text, strings skipped; stops counting past `limit`. */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++;
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      depth++;
      if (depth > deepest && (deepest = depth) > limit) return deepest;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return deepest;
}

export const tooDeep = (text: string) =>
  jsonDepth(text) > MAX_JSON_DEPTH ? `it nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep` : undefined;
