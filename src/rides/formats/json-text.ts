import type { FieldError } from "../ride.ts";
import { MAX_ERRORS_PER_RIDE } from "./candidate.ts";

/** Rides are flat (an array of objects of scalars); a body nested deeper than this is not rides. */
export const MAX_JSON_DEPTH = 8;
/** Far longer than any number a ride holds; a longer one is refused before it is weighed digit by digit. */
const MAX_NUMBER_CHARS = 1000;

/** One ride-sized piece of JSON text: where it starts and ends, its keys, and what JSON.parse would silently hide in it. */
export type JsonElement = { start: number; end: number; keys: number; errors: FieldError[] };
export type JsonScan = { tooDeep: true } | { tooDeep: false; elements: JsonElement[] };

/**
 * Reads JSON text for what JSON.parse cannot report (RFC 8259 leaves both open): a key
 * given twice in a ride (JSON.parse keeps the last) and a number it cannot hold as
 * written (1e400, 9007199254740993, 0.99999999999999999). Elements are the top-level
 * values, or with inArray the items of a top-level array: the rides. It does not check
 * the grammar (JSON.parse does) and stops as soon as nesting passes MAX_JSON_DEPTH.
 */
export function scanJson(text: string, { inArray, nameKeys = false }: { inArray: boolean; nameKeys?: boolean }): JsonScan {
  const rideDepth = inArray ? 2 : 1;
  const elements: JsonElement[] = [];
  let current: JsonElement | undefined;
  const open = (at: number) => elements.push((current = { start: at, end: text.length, keys: 0, errors: [] }));
  // Per open container: is it an object, and is a key due next.
  const stack: { object: boolean; keyNext: boolean }[] = [];
  // The keys of the ride being read (rides do not nest, so one set serves them all).
  const rideKeys = nameKeys ? new Set<string>() : undefined;
  // Where the ride's current key is in the text: sliced into a string only when an error names it.
  let keyStart = 0;
  let keyEnd = 0;
  const rideKey = () => {
    const raw = text.slice(keyStart, keyEnd);
    return raw.includes("\\") ? decodeKey(raw) : raw;
  };
  const report = (error: FieldError) => {
    if (current && current.errors.length < MAX_ERRORS_PER_RIDE) current.errors.push(error);
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x20 || ch === 0x0a || ch === 0x0d || ch === 0x09) continue;
    const depth = stack.length;
    const top = stack[depth - 1];
    if (depth === 0 && !inArray) open(i);
    else if (depth === 1 && inArray && current === undefined && ch !== 0x5d) open(i);
    if (ch === 0x22) {
      const end = closingQuote(text, i);
      if (top?.object && top.keyNext) {
        top.keyNext = false;
        if (depth === rideDepth) {
          keyStart = i + 1;
          keyEnd = end;
          if (current) current.keys++;
        }
        // A string per key is what costs, so keys are named only in a ride known to repeat one (readErrors).
        if (depth === rideDepth && rideKeys) {
          const key = rideKey();
          if (rideKeys.has(key) && !current?.errors.some((error) => error.path === key)) {
            report({ path: key, message: "appears more than once in the ride; send each field once" });
          }
          rideKeys.add(key);
        }
      }
      i = end;
    } else if (ch === 0x7b || ch === 0x5b) {
      if (depth + 1 > MAX_JSON_DEPTH) return { tooDeep: true };
      if (depth + 1 === rideDepth) rideKeys?.clear();
      stack.push({ object: ch === 0x7b, keyNext: ch === 0x7b });
    } else if (ch === 0x7d || ch === 0x5d) {
      stack.pop();
      if (stack.length === rideDepth - 1 && current) current.end = i + 1;
    } else if (ch === 0x2c) {
      if (top?.object) top.keyNext = true;
      if (depth === 1 && inArray && current) {
        if (current.end === text.length) current.end = i;
        current = undefined;
      }
    } else if (ch === 0x2d || (ch >= 0x30 && ch <= 0x39)) {
      let end = i + 1;
      let exponent = false;
      for (let c = text.charCodeAt(end); end < text.length && isNumberChar(c); c = text.charCodeAt(++end)) {
        if (c === 0x45 || c === 0x65) exponent = true;
      }
      // Up to 15 digits and no exponent: the double is exactly the decimal or its nearest
      // neighbour (a fraction), so only longer numbers are weighed.
      if (end - i > 15 || exponent) {
        const lost = lostValue(text.slice(i, end));
        if (lost) report({ path: depth >= rideDepth ? rideKey() : "", message: lost });
      }
      i = end - 1;
    } else if (ch !== 0x3a) {
      // true, false, null (or junk, which JSON.parse reports): one value, not one per letter.
      while (i + 1 < text.length && isLetter(text.charCodeAt(i + 1))) i++;
    }
  }
  return { tooDeep: false, elements };
}

/**
 * What reading found wrong in a ride, with any key it holds twice: JSON.parse keeps one
 * copy of each, so a ride whose object has fewer keys than its text is read again to name them.
 */
export function readErrors(text: string, element: JsonElement | undefined, input: unknown): FieldError[] {
  if (!element) return [];
  const parsedKeys = typeof input === "object" && input !== null && !Array.isArray(input) ? Object.keys(input).length : element.keys;
  if (element.keys <= parsedKeys) return element.errors;
  const named = scanJson(text.slice(element.start, element.end), { inArray: false, nameKeys: true });
  return named.tooDeep ? element.errors : named.elements[0].errors;
}

const isLetter = (ch: number) => (ch >= 0x61 && ch <= 0x7a) || (ch >= 0x41 && ch <= 0x5a);
const isNumberChar = (ch: number) => (ch >= 0x30 && ch <= 0x39) || ch === 0x2e || ch === 0x2b || ch === 0x2d || ch === 0x45 || ch === 0x65;

/** Index of the quote closing the string opened at `at` (a quote after an odd run of backslashes is escaped). */
export function closingQuote(text: string, at: number): number {
  for (let end = text.indexOf('"', at + 1); end !== -1; end = text.indexOf('"', end + 1)) {
    let slashes = 0;
    while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
    if (slashes % 2 === 0) return end;
  }
  return text.length;
}

function decodeKey(raw: string): string {
  try {
    return JSON.parse(`"${raw}"`);
  } catch {
    return raw;
  }
}

/**
 * Why a JSON number would not be read as written, or undefined: beyond a double's range,
 * too small to tell from 0, or an integer that is not the decimal sent (a fraction
 * such as 0.99999999999999999 that becomes 1, or 9007199254740993, past 2^53). A
 * fraction rounded to the nearest double (a coordinate's 17th digit) is how every
 * decimal is read, and passes.
 */
export function lostValue(number: string): string | undefined {
  const shown = number.length > 40 ? `${number.slice(0, 40)}…` : number;
  if (number.length > MAX_NUMBER_CHARS) return `${shown} is longer than ${MAX_NUMBER_CHARS} characters`;
  const value = Number(number);
  if (!Number.isFinite(value)) return `${shown} is beyond the range of a number`;
  const [mantissa, exponent = "0"] = number.toLowerCase().split("e");
  const [whole, fraction = ""] = mantissa.replace("-", "").split(".");
  if (value === 0) return /[1-9]/.test(whole + fraction) ? `${shown} is too small to tell from 0` : undefined;
  if (!Number.isInteger(value)) return undefined;
  // The decimal is digits × 10^scale; it is that integer only if no non-zero digit lies below the point.
  let digits = BigInt(whole + fraction);
  let scale = Number(exponent) - fraction.length;
  while (scale < 0 && digits % 10n === 0n) {
    digits /= 10n;
    scale++;
  }
  const exact = scale < 0 ? undefined : digits * 10n ** BigInt(scale);
  return exact === BigInt(Math.abs(value)) ? undefined : `${shown} would be read as ${BigInt(value)}`;
}
