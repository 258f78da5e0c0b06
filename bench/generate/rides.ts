import { RIDE_FIELDS, type Ride } from "../../src/rides/index.ts";

/**
 * Rides with the shape of data/xrides-2013-sample.csv: the travel-type mix
 * and, per travel type, which columns are always, often or never NULL, at the rates
 * measured on the full 43,431-row data set (see data/README.md). Seeded, so
 * a run can be reproduced exactly.
 */

/** travel_type_id → the columns that are always NULL for it. */
export const ALWAYS_NULL: Record<number, readonly string[]> = {
  1: ["package_id"],
  2: ["package_id", "to_city_id"],
  3: ["to_area_id", "to_city_id", "to_lat", "to_long"],
};
/** travel_type_id → the columns that may be NULL for it (the rest of the nullable ones never are). */
export const SOMETIMES_NULL: Record<number, readonly string[]> = {
  1: ["to_area_id", "to_lat", "to_long", "from_city_id", "from_lat", "from_long", "from_area_id", "to_date"],
  2: ["from_city_id", "to_date"],
  3: ["from_city_id", "to_date"],
};
export const NEVER_NULL = [
  "id", "user_id", "vehicle_model_id", "travel_type_id", "from_date", "booking_created",
  "online_booking", "mobile_site_booking", "car_cancellation",
] as const;

/** Rows per travel type in the full data set: the mix and the NULL rates below derive from it. */
export const TYPE_ROWS = { 2: 34_292, 3: 7_550, 1: 1_589 } as const;
const TOTAL_ROWS = TYPE_ROWS[1] + TYPE_ROWS[2] + TYPE_ROWS[3];

/** A generated ride: flags 0/1 and times as wall-clock minutes in the producer's zone (ms, read as UTC). */
export type GeneratedRide = Omit<Ride, TimeField | FlagField> & Record<FlagField, 0 | 1> & {
  from_date: number;
  to_date: number | null;
  booking_created: number;
};
type TimeField = "from_date" | "to_date" | "booking_created";
type FlagField = "online_booking" | "mobile_site_booking" | "car_cancellation";

/** mulberry32: tiny, fast and good enough to make test data; Math.random cannot be seeded. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VEHICLE_MODELS = [12, 12, 12, 12, 12, 12, 24, 28, 28, 65, 85, 87, 89, 54];
const MINUTE = 60_000;
const QUARTER_HOUR = 15 * MINUTE;
const DAY = 24 * 60 * MINUTE;

export type GenerateOptions = {
  seed: number;
  count: number;
  /** id of the first ride; the others follow one by one. */
  firstId?: number;
  /** Wall-clock day (UTC midnight of that date) over which booking_created spreads evenly. */
  day?: number;
};

export function generateRides({ seed, count, firstId = 1, day = Date.UTC(2013, 0, 1) }: GenerateOptions): GeneratedRide[] {
  const random = seededRandom(seed);
  const chance = (rows: number, of: number) => random() < rows / of;
  const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const coordinate = (centre: number, spread: number) => Math.round((centre + (random() - 0.5) * spread) * 1e6) / 1e6;
  const rides: GeneratedRide[] = [];
  for (let i = 0; i < count; i++) {
    const pick = random() * TOTAL_ROWS;
    const type = pick < TYPE_ROWS[2] ? 2 : pick < TYPE_ROWS[2] + TYPE_ROWS[3] ? 3 : 1;
    const bookingCreated = day + Math.floor((i * DAY) / count / MINUTE) * MINUTE;
    const lead = type === 1 ? between(4, 30 * 24 * 4) : between(1, 4 * 24);
    const fromDate = Math.ceil(bookingCreated / QUARTER_HOUR) * QUARTER_HOUR + lead * QUARTER_HOUR;
    const ride: GeneratedRide = {
      id: firstId + i,
      user_id: between(1, 48_730),
      vehicle_model_id: VEHICLE_MODELS[between(0, VEHICLE_MODELS.length - 1)],
      package_id: type === 3 ? between(1, 7) : null,
      travel_type_id: type,
      from_area_id: between(2, 1_403),
      to_area_id: between(2, 1_403),
      from_city_id: 15,
      to_city_id: type === 1 ? between(1, 151) : null,
      from_date: fromDate,
      to_date: fromDate + between(1, 48) * QUARTER_HOUR,
      online_booking: chance(1, 3) ? 1 : 0,
      mobile_site_booking: chance(1, 23) ? 1 : 0,
      booking_created: bookingCreated,
      from_lat: coordinate(12.95, 0.3),
      from_long: coordinate(77.64, 0.3),
      to_lat: type === 3 ? null : coordinate(12.95, 0.4),
      to_long: type === 3 ? null : coordinate(77.64, 0.4),
      car_cancellation: chance(1, 14) ? 1 : 0,
    };
    if (type === 2) {
      if (chance(19_788, TYPE_ROWS[2])) ride.from_city_id = null;
      if (chance(15_185, TYPE_ROWS[2])) ride.to_date = null;
    } else if (type === 3) {
      ride.to_area_id = null;
      if (chance(7_102, TYPE_ROWS[3])) ride.from_city_id = null;
      if (chance(2_620, TYPE_ROWS[3])) ride.to_date = null;
    } else {
      if (chance(1_588, TYPE_ROWS[1])) ride.to_area_id = ride.to_lat = ride.to_long = null;
      if (chance(196, TYPE_ROWS[1])) ride.from_city_id = null;
      if (chance(93, TYPE_ROWS[1])) ride.from_lat = ride.from_long = null;
      if (chance(88, TYPE_ROWS[1])) ride.from_area_id = null;
      if (chance(85, TYPE_ROWS[1])) ride.to_date = null;
    }
    rides.push(ride);
  }
  return rides;
}

export type Format = "json" | "ndjson" | "csv";
export const MEDIA_TYPE: Record<Format, string> = {
  json: "application/json",
  ndjson: "application/x-ndjson",
  csv: "text/csv",
};

const CSV_HEADER = RIDE_FIELDS.map((field) => (field === "car_cancellation" ? "Car_Cancellation" : field)).join(",");
const TIME_FIELDS = new Set(["from_date", "to_date", "booking_created"]);

/** The producer's CSV time: M/D/YYYY H:MM, no padding. */
const producerTime = (wall: number) => {
  const d = new Date(wall);
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${d.getUTCHours()}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
};
/** A JSON sender's time: ISO 8601 without an offset, read in RIDES_TIME_ZONE like the CSV. */
const isoWallTime = (wall: number) => new Date(wall).toISOString().slice(0, 16);

/** One ride as the producer sends it in format; every line starts with the ride's id. */
export function renderRide(ride: GeneratedRide, format: Format): string {
  if (format === "csv") {
    return RIDE_FIELDS.map((field) => {
      const value = ride[field];
      if (value === null) return "NULL";
      return TIME_FIELDS.has(field) ? producerTime(value) : String(value);
    }).join(",");
  }
  const json: Record<string, unknown> = {};
  for (const field of RIDE_FIELDS) {
    const value = ride[field];
    json[field] = value !== null && TIME_FIELDS.has(field) ? isoWallTime(value) : value;
  }
  return JSON.stringify(json);
}

/** A whole request body of rides in format. */
export function renderBody(rides: GeneratedRide[], format: Format): string {
  return bodyTemplate(rides, format)(rides[0].id);
}

/**
 * A body of these rides whose ids can be renumbered for almost free: load generators
 * send fresh ids on every request without generating or serialising rides while timed.
 */
export function bodyTemplate(rides: GeneratedRide[], format: Format): (firstId: number) => string {
  const tails = rides.map((ride) => renderRide(ride, format).slice(format === "csv" ? String(ride.id).length : `{"id":${ride.id}`.length));
  const head = format === "csv" ? "" : '{"id":';
  const open = format === "csv" ? `${CSV_HEADER}\n` : format === "json" && rides.length > 1 ? "[" : "";
  const close = format === "json" && rides.length > 1 ? "]" : format === "json" ? "" : "\n";
  const separator = format === "json" ? "," : "\n";
  return (firstId) => {
    let body = open;
    for (let i = 0; i < tails.length; i++) body += (i === 0 ? "" : separator) + head + (firstId + i) + tails[i];
    return body + close;
  };
}

export type BodySourceOptions = { seed: number; format: Format; ridesPerRequest: number; firstId: number; distinct?: number };

/**
 * Request bodies for a load run: the index-th body holds rides firstId + index * ridesPerRequest
 * onwards, cycling through `distinct` generated batches (renumbered, so every id is fresh).
 */
export function bodySource({ seed, format, ridesPerRequest, firstId, distinct = 16 }: BodySourceOptions) {
  const rides = generateRides({ seed, count: distinct * ridesPerRequest });
  const templates = Array.from({ length: distinct }, (_, i) =>
    bodyTemplate(rides.slice(i * ridesPerRequest, (i + 1) * ridesPerRequest), format),
  );
  return (index: number) => templates[index % distinct](firstId + index * ridesPerRequest);
}
