import type { FieldError } from "../ride.ts";

/** One ride of a request as the format read it: a value to validate, or why it could not be read. */
export type Candidate = { input: unknown } | { errors: FieldError[] };

/** A body that cannot be read as rides at all (it becomes a 400 naming the reason). */
export class UnreadableBody extends Error {}
