import * as v from "valibot";
import { clip, parseTime } from "./time.ts";

/** The fields of a ride, in the producer's CSV order. */
export const RIDE_FIELDS = [
  "id",
  "user_id",
  "vehicle_model_id",
  "package_id",
  "travel_type_id",
  "from_area_id",
  "to_area_id",
  "from_city_id",
  "to_city_id",
  "from_date",
  "to_date",
  "online_booking",
  "mobile_site_booking",
  "booking_created",
  "from_lat",
  "from_long",
  "to_lat",
  "to_long",
  "car_cancellation",
] as const;

export type RideField = (typeof RIDE_FIELDS)[number];

/** A validated ride as it is staged, stored and served: times as ISO 8601 UTC. */
export type Ride = {
  id: number;
  user_id: number;
  vehicle_model_id: number;
  package_id: number | null;
  travel_type_id: number;
  from_area_id: number | null;
  to_area_id: number | null;
  from_city_id: number | null;
  to_city_id: number | null;
  from_date: string;
  to_date: string | null;
  online_booking: boolean;
  mobile_site_booking: boolean;
  booking_created: string;
  from_lat: number | null;
  from_long: number | null;
  to_lat: number | null;
  to_long: number | null;
  car_cancellation: boolean;
};

const INT4_MAX = 2_147_483_647;
/** Older than the data set and far beyond any booking horizon: such a time is a sender's bug. */
const EARLIEST = Date.UTC(2000, 0, 1);
const LATEST_AHEAD_MS = 366 * 24 * 3600 * 1000;

const whole = (min: number, max: number) =>
  v.pipe(
    v.number("must be a number"),
    v.integer("must be a whole number"),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );

const degrees = (limit: number) =>
  v.pipe(
    v.number("must be a number"),
    v.finite("must be a finite number"),
    v.minValue(-limit, `must be between -${limit} and ${limit}`),
    v.maxValue(limit, `must be between -${limit} and ${limit}`),
  );

const flag = v.pipe(
  v.union([v.boolean(), v.literal(0), v.literal(1)], "must be true, false, 0 or 1"),
  v.transform((value) => value === true || value === 1),
);

const time = (zone: string) =>
  v.pipe(
    v.string("must be an ISO 8601 date-time string"),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const parsed = parseTime(dataset.value, zone);
      if (!parsed.ok) {
        addIssue({ message: parsed.message });
        return NEVER;
      }
      if (parsed.instant < EARLIEST || parsed.instant > Date.now() + LATEST_AHEAD_MS) {
        addIssue({ message: `"${clip(dataset.value)}" is outside 2000-01-01 to one year from now` });
        return NEVER;
      }
      return new Date(parsed.instant).toISOString();
    }),
  );

const nullable = <T extends v.GenericSchema>(schema: T) => v.optional(v.nullable(schema), null);

function buildRideSchema(zone: string) {
  const id = whole(0, INT4_MAX);
  return v.strictObject(
    {
      id: whole(1, Number.MAX_SAFE_INTEGER),
      user_id: id,
      vehicle_model_id: id,
      package_id: nullable(id),
      travel_type_id: id,
      from_area_id: nullable(id),
      to_area_id: nullable(id),
      from_city_id: nullable(id),
      to_city_id: nullable(id),
      from_date: time(zone),
      to_date: nullable(time(zone)),
      online_booking: flag,
      mobile_site_booking: flag,
      booking_created: time(zone),
      from_lat: nullable(degrees(90)),
      from_long: nullable(degrees(180)),
      to_lat: nullable(degrees(90)),
      to_long: nullable(degrees(180)),
      car_cancellation: flag,
    },
    (issue) => `is not a ride field (expected one of ${RIDE_FIELDS.join(", ")})`,
  );
}

export type RideSchema = ReturnType<typeof buildRideSchema>;
const schemas = new Map<string, RideSchema>();

/** The ride schema reading offset-less times in zone; one definition for validation, types and docs. */
export function rideSchema(zone: string): RideSchema {
  let schema = schemas.get(zone);
  if (!schema) {
    schema = buildRideSchema(zone);
    schemas.set(zone, schema);
  }
  return schema;
}

export type FieldError = { path: string; message: string };
export type Checked = { ok: true; ride: Ride } | { ok: false; errors: FieldError[] };

export function checkRide(input: unknown, schema: RideSchema): Checked {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ path: "", message: "a ride must be a JSON object" }] };
  }
  const result = v.safeParse(schema, input);
  if (result.success) return { ok: true, ride: result.output };
  return {
    ok: false,
    errors: result.issues.map((issue) => ({
      path: issue.path?.map((item) => String(item.key)).join(".") ?? "",
      message: describe(issue),
    })),
  };
}

function describe(issue: v.BaseIssue<unknown>): string {
  if (issue.input === undefined) return "is required";
  if (issue.input === null) return "must not be null";
  // Times name the offending value in their own message; an unknown field's value says nothing.
  if (issue.type !== "strict_object" && issue.type !== "raw_transform") return `${issue.message}, got ${clip(issue.received)}`;
  return issue.message;
}
