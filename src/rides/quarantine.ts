import { MAX_ERRORS_PER_RIDE } from "./formats/index.ts";
import { type FieldError, RIDE_FIELDS } from "./ride.ts";

/** Most UTF-8 bytes of a rejected ride's raw text the quarantine keeps; beyond them it is cut and marked truncated. */
export const MAX_RAW_BYTES = 8192;
/** Most UTF-8 bytes of a rejected ride's reasons as JSON: a reason names a sender's key, which may be of any length. */
export const MAX_REASONS_BYTES = 12_288;
/** A kept reason's path and message are cut to these many characters. */
const MAX_PATH_CHARS = 100;
const MAX_MESSAGE_CHARS = 300;

/** A rejected ride as the quarantine keeps it: at most MAX_RAW_BYTES + MAX_REASONS_BYTES whatever was sent. */
type Quarantined = { index: number; ride_id: number | null; reasons: FieldError[]; raw: string; truncated: boolean };

/**
 * PostgreSQL's text and jsonb hold neither NUL nor a lone surrogate (a JSON key may
 * decode to one): each becomes U+FFFD, so no sender's text can make the stage statement fail.
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const UNSTORABLE_TEST = new RegExp(UNSTORABLE.source);
const storable = (text: string) => text.replace(UNSTORABLE, "\uFFFD");

function cut(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, chars - 1)}…`;
}

/** The first maxBytes of text in UTF-8, never splitting a character. */
function firstBytes(text: string, maxBytes: number): string {
  // Each UTF-16 unit is at most 3 bytes: under a third of the limit nothing needs weighing.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  let end = Math.min(text.length, maxBytes);
  while (Buffer.byteLength(text.slice(0, end)) > maxBytes) end -= Math.max(1, Math.floor((Buffer.byteLength(text.slice(0, end)) - maxBytes) / 3));
  // Not between the halves of a surrogate pair.
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(0, end);
}

// A character is at most 6 bytes of JSON (an escaped control character), a reason's keys and quotes fewer than 32.
const mostBytes = (error: FieldError) => 6 * (Math.min(error.path.length, MAX_PATH_CHARS) + Math.min(error.message.length, MAX_MESSAGE_CHARS)) + 32;

function keptReasons(errors: FieldError[]): FieldError[] {
  const listed = errors.slice(0, MAX_ERRORS_PER_RIDE);
  // The common case, a few short storable reasons, is under the cap whatever they hold: kept as they are.
  const asTheyAre =
    listed.length === errors.length &&
    listed.reduce((sum, error) => sum + mostBytes(error), 2) <= MAX_REASONS_BYTES &&
    listed.every((e) => e.path.length <= MAX_PATH_CHARS && e.message.length <= MAX_MESSAGE_CHARS && !UNSTORABLE_TEST.test(e.path + e.message));
  if (asTheyAre) return listed;
  const reasons: FieldError[] = [];
  let bytes = 2;
  for (const error of listed) {
    const reason = { path: storable(cut(error.path, MAX_PATH_CHARS)), message: storable(cut(error.message, MAX_MESSAGE_CHARS)) };
    bytes += Buffer.byteLength(JSON.stringify(reason)) + 1;
    // Room is kept for the closing "and N more".
    if (bytes > MAX_REASONS_BYTES - 100) break;
    reasons.push(reason);
  }
  if (reasons.length < errors.length) reasons.push({ path: "", message: `and ${errors.length - reasons.length} more` });
  return reasons;
}

/** A rejected ride, its raw text capped and its reasons bounded. */
function quarantined(index: number, id: unknown, errors: FieldError[], raw: string): Quarantined {
  // A character is at least a byte: past MAX_RAW_BYTES characters the text is cut whatever they are.
  const head = storable(raw.slice(0, MAX_RAW_BYTES));
  const kept = firstBytes(head, MAX_RAW_BYTES);
  return {
    index,
    ride_id: typeof id === "number" && Number.isSafeInteger(id) ? id : null,
    reasons: keptReasons(errors),
    raw: kept,
    truncated: raw.length > MAX_RAW_BYTES || kept.length < head.length,
  };
}

/**
 * A request's rejected rides as the stage statement takes them: one json array (null when
 * none), and how many name each field, for /metrics.
 */
export type Quarantine = { json: string | null; byField: Record<string, number> };

const FIELDS = new Set<string>(RIDE_FIELDS);
/** A reason's bucket: a ride field, or one of two, so a sender's key names never become metric labels. */
const reasonField = (path: string) => (path === "" ? "(the ride)" : FIELDS.has(path) ? path : "(unknown fields)");

/**
 * Collects rejected rides as json text, ride by ride: what stays in memory until the
 * commit is that text (at most the caps per ride), not an object per ride and its copy.
 */
export function collectQuarantine() {
  const parts: string[] = [];
  const byField: Record<string, number> = {};
  return {
    add(index: number, id: unknown, errors: FieldError[], raw: string) {
      parts.push(JSON.stringify(quarantined(index, id, errors, raw)));
      for (const field of new Set(errors.slice(0, MAX_ERRORS_PER_RIDE).map((error) => reasonField(error.path)))) byField[field] = (byField[field] ?? 0) + 1;
    },
    done: (): Quarantine => ({ json: parts.length > 0 ? `[${parts.join(",")}]` : null, byField }),
  };
}
