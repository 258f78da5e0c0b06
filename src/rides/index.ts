import { type Candidate, FORMATS, UnreadableBody } from "./formats/index.ts";
import { checkRide, type FieldError, type Ride, rideSchema } from "./ride.ts";

export { UnreadableBody } from "./formats/index.ts";
export { RIDE_FIELDS, type Ride } from "./ride.ts";

export type Rejected = { index: number; id: unknown; errors: FieldError[] };
export type ReadRides = { accepted: Ride[]; rejected: Rejected[] };

export const MEDIA_TYPES = Object.keys(FORMATS);

export class TooManyRides extends Error {}

/**
 * A request body → every ride in it, accepted or rejected with its reasons; nothing is dropped.
 * With `keptFrom` (RIDES_RETENTION_MONTHS), a ride before it is rejected: its month was dropped.
 */
export function readRides(text: string, mediaType: string, zone: string, maxRides: number, keptFrom?: number): ReadRides {
  const parse = FORMATS[mediaType];
  const candidates: Candidate[] = parse(text);
  if (candidates.length === 0) throw new UnreadableBody("the body holds no rides");
  if (candidates.length > maxRides) {
    throw new TooManyRides(`the body holds ${candidates.length} rides; at most ${maxRides} are taken per request`);
  }
  const schema = rideSchema(zone);
  const accepted: Ride[] = [];
  const rejected: Rejected[] = [];
  candidates.forEach((candidate, index) => {
    if ("errors" in candidate) {
      rejected.push({ index, id: null, errors: candidate.errors });
      return;
    }
    const checked = checkRide(candidate.input, schema);
    if (checked.ok && keptFrom !== undefined && Date.parse(checked.ride.from_date) < keptFrom) {
      const message = `is before ${new Date(keptFrom).toISOString()}: the rides of that month were dropped (RIDES_RETENTION_MONTHS) and are no longer taken`;
      rejected.push({ index, id: checked.ride.id, errors: [{ path: "from_date", message }] });
    } else if (checked.ok) accepted.push(checked.ride);
    else rejected.push({ index, id: idOf(candidate.input), errors: checked.errors });
  });
  return { accepted, rejected };
}

function idOf(input: unknown): unknown {
  const id = (input as { id?: unknown } | null)?.id;
  return typeof id === "number" || typeof id === "string" ? id : null;
}
