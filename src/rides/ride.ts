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

/**
 * Times taken, by zone and text: a batch repeats the same minutes many times, and reading
 * one costs more than the rest of its ride. Only times taken are kept, which stay taken
 * (the latest time taken only moves later); bounded, as senders choose the texts.
 */
const takenTimes = new Map<string, Map<string, string>>();
const TAKEN_TIMES_KEPT = 50_000;

/** A time the schema takes, as it stores it (ISO 8601 UTC), or why it does not take it. */
function storedTime(text: string, zone: string): { ok: true; iso: string } | { ok: false; message: string } {
  let taken = takenTimes.get(zone);
  const known = taken?.get(text);
  if (known !== undefined) return { ok: true, iso: known };
  const parsed = parseTime(text, zone);
  if (!parsed.ok) return parsed;
  if (parsed.instant < EARLIEST || parsed.instant > Date.now() + LATEST_AHEAD_MS) {
    return { ok: false, message: `"${clip(text)}" is outside 2000-01-01 to one year from now` };
  }
  const iso = new Date(parsed.instant).toISOString();
  if (!taken) takenTimes.set(zone, (taken = new Map()));
  if (taken.size >= TAKEN_TIMES_KEPT) taken.clear();
  taken.set(text, iso);
  return { ok: true, iso };
}

const time = (zone: string) =>
  v.pipe(
    v.string("must be an ISO 8601 date-time string"),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const stored = storedTime(dataset.value, zone);
      if (!stored.ok) {
        addIssue({ message: stored.message });
        return NEVER;
      }
      return stored.iso;
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

/**
 * The schema decides what is a ride and words every error. Most rides are plainly valid,
 * and for them plainRide gives the schema's output at a fraction of its cost (a third of
 * the service's CPU per ride went to valibot); anything it is not sure of goes to the
 * schema. test/rides/plain-ride.property.test.ts holds the two to the same answers.
 */
export function checkRide(input: unknown, zone: string, { fastPath = true } = {}): Checked {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ path: "", message: "a ride must be a JSON object" }] };
  }
  const plain = fastPath ? plainRide(input as Record<string, unknown>, zone) : undefined;
  if (plain) return { ok: true, ride: plain };
  const result = v.safeParse(rideSchema(zone), input);
  if (result.success) return { ok: true, ride: result.output };
  return {
    ok: false,
    errors: result.issues.map((issue) => ({
      path: issue.path?.map((item) => String(item.key)).join(".") ?? "",
      message: describe(issue),
    })),
  };
}

const FIELD_NAMES = new Set<string>(RIDE_FIELDS);
const isWhole = (value: unknown, min: number, max: number): value is number =>
  typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
const isDegrees = (value: unknown, limit: number): value is number =>
  typeof value === "number" && Number.isFinite(value) && value >= -limit && value <= limit;
/** Marks a field plainRide is not sure of. */
const UNSURE = Symbol("unsure");
const nullableWhole = (value: unknown) => (value === undefined || value === null ? null : isWhole(value, 0, INT4_MAX) ? value : UNSURE);
const nullableDegrees = (value: unknown, limit: number) => (value === undefined || value === null ? null : isDegrees(value, limit) ? value : UNSURE);
const flagOf = (value: unknown) => (value === true || value === 1 ? true : value === false || value === 0 ? false : UNSURE);
const timeOf = (value: unknown, zone: string) => {
  if (typeof value !== "string") return UNSURE;
  const stored = storedTime(value, zone);
  return stored.ok ? stored.iso : UNSURE;
};
const nullableTime = (value: unknown, zone: string) => (value === undefined || value === null ? null : timeOf(value, zone));

/** The schema's output for a ride whose every field the schema plainly takes; undefined for any other. */
export function plainRide(input: Record<string, unknown>, zone: string): Ride | undefined {
  for (const key in input) if (!FIELD_NAMES.has(key)) return undefined;
  const { id, user_id, vehicle_model_id, travel_type_id } = input;
  if (!isWhole(id, 1, Number.MAX_SAFE_INTEGER) || !isWhole(user_id, 0, INT4_MAX)) return undefined;
  if (!isWhole(vehicle_model_id, 0, INT4_MAX) || !isWhole(travel_type_id, 0, INT4_MAX)) return undefined;
  const ride = {
    id,
    user_id,
    vehicle_model_id,
    package_id: nullableWhole(input.package_id),
    travel_type_id,
    from_area_id: nullableWhole(input.from_area_id),
    to_area_id: nullableWhole(input.to_area_id),
    from_city_id: nullableWhole(input.from_city_id),
    to_city_id: nullableWhole(input.to_city_id),
    from_date: timeOf(input.from_date, zone),
    to_date: nullableTime(input.to_date, zone),
    online_booking: flagOf(input.online_booking),
    mobile_site_booking: flagOf(input.mobile_site_booking),
    booking_created: timeOf(input.booking_created, zone),
    from_lat: nullableDegrees(input.from_lat, 90),
    from_long: nullableDegrees(input.from_long, 180),
    to_lat: nullableDegrees(input.to_lat, 90),
    to_long: nullableDegrees(input.to_long, 180),
    car_cancellation: flagOf(input.car_cancellation),
  };
  for (const key in ride) if (ride[key as RideField] === UNSURE) return undefined;
  return ride as Ride;
}

function describe(issue: v.BaseIssue<unknown>): string {
  if (issue.input === undefined) return "is required";
  if (issue.input === null) return "must not be null";
  // Times name the offending value in their own message; an unknown field's value says nothing.
  if (issue.type !== "strict_object" && issue.type !== "raw_transform") return `${issue.message}, got ${clip(issue.received)}`;
  return issue.message;
}
