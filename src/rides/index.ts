import { checkFacts } from "./facts.ts";
import { type Candidate, FORMATS, MAX_ERRORS_PER_RIDE, UnreadableBody } from "./formats/index.ts";
import { collectQuarantine, type Quarantine } from "./quarantine.ts";
import { checkRide, type FieldError, RIDE_FIELDS, type Ride, rideSchema } from "./ride.ts";

export { UnreadableBody } from "./formats/index.ts";
export { RIDE_FIELDS, type Ride } from "./ride.ts";
export { MAX_RAW_BYTES, MAX_REASONS_BYTES, type Quarantine } from "./quarantine.ts";
export { loadTravelTypes, travelTypes } from "./travel-types.ts";

export type Rejected = { index: number; id: unknown; errors: FieldError[] };
export type Warned = { index: number; id: unknown; warnings: FieldError[] };
/** quarantine: every rejected ride with its raw text, as the stage statement keeps them with the job (not for the answer). */
export type ReadRides = { accepted: Ride[]; rejected: Rejected[]; warnings: Warned[]; quarantine: Quarantine };

export const MEDIA_TYPES = Object.keys(FORMATS);

export class TooManyRides extends Error {}

/**
 * A request body → every ride in it, accepted (perhaps with warnings) or rejected with its reasons; nothing is dropped.
 * With `keptFrom` (RIDES_RETENTION_MONTHS), a ride before it is rejected: its month was dropped.
 */
export function readRides(text: string, mediaType: string, zone: string, maxRides: number, keptFrom?: number): ReadRides {
  return checkCandidates(FORMATS[mediaType](text), zone, maxRides, keptFrom, text);
}

/**
 * Rides already read (a stream frame's array, a body's candidates) → accepted or rejected with reasons.
 * A rejected ride's raw text is its span of `text`, or its JSON when there is no text (a stream frame's array).
 */
export function checkCandidates(candidates: Candidate[], zone: string, maxRides: number, keptFrom?: number, text?: string): ReadRides {
  if (candidates.length === 0) throw new UnreadableBody("the body holds no rides");
  if (candidates.length > maxRides) {
    throw new TooManyRides(`the body holds ${candidates.length} rides; at most ${maxRides} are taken per request`);
  }
  const accepted: Ride[] = [];
  const rejected: Rejected[] = [];
  const warnings: Warned[] = [];
  const quarantine = collectQuarantine();
  const reject = (entry: Rejected, candidate: Candidate) => {
    rejected.push(entry);
    const raw = text !== undefined && candidate.from !== undefined ? text.slice(candidate.from, candidate.to) : (JSON.stringify(candidate.input) ?? "");
    quarantine.add(entry.index, entry.id, entry.errors, raw);
  };
  candidates.forEach((candidate, index) => {
    if (candidate.input === undefined) {
      reject({ index, id: candidate.id ?? null, errors: candidate.errors! }, candidate);
      return;
    }
    const id = idOf(candidate.input);
    const checked = checkRide(candidate.input, zone);
    const found = checked.ok ? checkFacts(checked.ride) : { errors: checked.errors, warnings: [] };
    if (checked.ok && keptFrom !== undefined && Date.parse(checked.ride.from_date) < keptFrom) {
      const message = `is before ${new Date(keptFrom).toISOString()}: the rides of that month were dropped (RIDES_RETENTION_MONTHS) and are no longer taken`;
      found.errors.push({ path: "from_date", message });
    }
    if (checked.ok && !candidate.errors && found.errors.length === 0) {
      accepted.push(checked.ride);
      if (found.warnings.length > 0) warnings.push({ index, id, warnings: found.warnings });
      return;
    }
    const readErrors = candidate.errors ?? [];
    // A field reading already refused (a key sent twice, a number that lost its value) is named once.
    const later = found.errors.filter((e) => !readErrors.some((r) => r.path === e.path));
    reject({ index, id, errors: [...readErrors, ...later] }, candidate);
  });
  return { accepted, rejected, warnings, quarantine: quarantine.done() };
}

function idOf(input: unknown): unknown {
  const id = (input as { id?: unknown } | null)?.id;
  return typeof id === "number" || typeof id === "string" ? id : null;
}

/** How many rides an answer lists in full in rejected (and in warnings); the rest are counted by field. */
export const LISTED_RIDES = 100;

type Unlisted = { rides: number; by_field: Record<string, number> };
export type RideReport = {
  rejected: Rejected[];
  rejected_count: number;
  rejected_unlisted?: Unlisted;
  warnings: Warned[];
  warnings_count: number;
  warnings_unlisted?: Unlisted;
};

/**
 * What an answer (202, 200 or 422) says about the rides it did not take as they were:
 * the first LISTED_RIDES of each list in full, then counts, so the answer stays small
 * whatever the body (10,000 `{}` would otherwise be a 4.7 MB 422).
 */
export function rideReport(read: Pick<ReadRides, "rejected" | "warnings">): RideReport {
  const rejected = listed(read.rejected, (r) => r.errors);
  const warnings = listed(read.warnings, (w) => w.warnings);
  return {
    rejected: rejected.shown.map((r) => ({ ...r, errors: capped(r.errors) })),
    rejected_count: read.rejected.length,
    ...(rejected.unlisted && { rejected_unlisted: rejected.unlisted }),
    warnings: warnings.shown.map((w) => ({ ...w, warnings: capped(w.warnings) })),
    warnings_count: read.warnings.length,
    ...(warnings.unlisted && { warnings_unlisted: warnings.unlisted }),
  };
}

const FIELDS = new Set<string>(RIDE_FIELDS);

function listed<T>(entries: T[], issues: (entry: T) => FieldError[]): { shown: T[]; unlisted?: Unlisted } {
  if (entries.length <= LISTED_RIDES) return { shown: entries };
  const by_field: Record<string, number> = {};
  for (const entry of entries.slice(LISTED_RIDES)) {
    // Each ride once per field; a field that is not a ride's is one bucket, so a hostile body cannot grow the list.
    const fields = new Set(issues(entry).map((e) => (e.path === "" ? "(the ride)" : FIELDS.has(e.path) ? e.path : "(unknown fields)")));
    for (const field of fields) by_field[field] = (by_field[field] ?? 0) + 1;
  }
  return { shown: entries.slice(0, LISTED_RIDES), unlisted: { rides: entries.length - LISTED_RIDES, by_field } };
}

function capped(errors: FieldError[]): FieldError[] {
  if (errors.length <= MAX_ERRORS_PER_RIDE) return errors;
  return [...errors.slice(0, MAX_ERRORS_PER_RIDE), { path: "", message: `and ${errors.length - MAX_ERRORS_PER_RIDE} more` }];
}
