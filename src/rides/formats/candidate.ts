import type { FieldError } from "../ride.ts";

/**
 * One ride of a request as the format read it: the value to validate, and what reading
 * it already found wrong (input is absent when the ride could not be read at all; id then
 * is its id when one can still be told). from and to locate its text in the body (its
 * CSV line, its JSON element), so a rejected ride is quarantined as it came without the
 * parser copying any ride's text.
 */
export type Candidate = ({ input: unknown; errors?: undefined; id?: undefined } | { input?: unknown; errors: FieldError[]; id?: number }) & {
  from?: number;
  to?: number;
};

/** Most reasons listed for one ride: enough for every field, bounded for a ride that repeats a key 10,000 times. */
export const MAX_ERRORS_PER_RIDE = 20;

/** A body that cannot be read as rides at all (it becomes a 400 naming the reason). */
export class UnreadableBody extends Error {}
