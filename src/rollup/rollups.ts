// Great-circle distance in km (haversine, mean Earth radius), rounded to the metre per
// ride so that sums are exact numerics: the rollup and raw rides then agree to the digit.
const HAS_COORDINATES = "num_nulls(from_lat, from_long, to_lat, to_long) = 0";
// NULL when a coordinate is missing (least() alone would turn a NULL into 1).
const TRIP_KM = `CASE WHEN ${HAS_COORDINATES} THEN round((2 * 6371.0088 * asin(least(1, sqrt(
  power(sin(radians(to_lat - from_lat) / 2), 2)
  + cos(radians(from_lat)) * cos(radians(to_lat)) * power(sin(radians(to_long - from_long) / 2), 2)))))::numeric, 3) END`;

/**
 * What one ride adds to each rollup sum, as SQL over a row of rides. Raw queries sum the
 * same expressions over rides, so both sources compute every measure from one definition.
 */
export const CONTRIBUTIONS = {
  rides: "1",
  cancellations: "car_cancellation::int",
  online_bookings: "online_booking::int",
  mobile_bookings: "mobile_site_booking::int",
  lead_seconds: "extract(epoch from from_date - booking_created)",
  trip_km: `coalesce(${TRIP_KM}, 0)`,
  trip_km_rides: `(${HAS_COORDINATES})::int`,
} as const;

export type Sum = keyof typeof CONTRIBUTIONS;
export const SUMS = Object.keys(CONTRIBUTIONS) as Sum[];

export const GRAINS = ["hour", "day"] as const;
/** A rollup: its table, its time grain (also the name of its time column) and its dimensions. */
export type Rollup = { table: string; grain: (typeof GRAINS)[number]; dimensions: string[] };

/**
 * The rollups, smallest first: a query goes to the first one that answers it exactly.
 * Their tables are declared in src/db/schema.ts (test/rollup/rollups.test.ts holds the
 * two together); this plain list keeps drizzle-orm's ES modules, ~250 MB of peak RSS
 * on Node 24, out of the running service.
 */
export const ROLLUPS: Rollup[] = [
  { table: "rides_daily_by_model", grain: "day", dimensions: ["travel_type_id", "vehicle_model_id"] },
  { table: "rides_daily_by_area", grain: "day", dimensions: ["from_area_id"] },
  { table: "rides_hourly_by_model", grain: "hour", dimensions: ["travel_type_id", "vehicle_model_id"] },
  {
    table: "rides_hourly",
    grain: "hour",
    dimensions: [
      "travel_type_id",
      "vehicle_model_id",
      "package_id",
      "from_city_id",
      "online_booking",
      "mobile_site_booking",
      "car_cancellation",
    ],
  },
];

const ALL_DIMENSIONS = [...new Set(ROLLUPS.flatMap((r) => r.dimensions))];

/**
 * The rides of `from` as rollup changes: the hour and the day (on the zone's clock,
 * `zone` being a SQL parameter reference), every rollup dimension, and each sum's
 * contribution times `sign` (+1 adds a ride, -1 takes it away).
 */
const changesOf = (from: string, sign: string, zone: string) =>
  `SELECT ${GRAINS.map((g) => `date_trunc('${g}', from_date, ${zone}) AS ${g}`).join(", ")}, ${ALL_DIMENSIONS.join(", ")},
    ${SUMS.map((s) => `${sign} * ${CONTRIBUTIONS[s]} AS ${s}`).join(", ")}
  FROM ${from}`;

/** One INSERT adding rollup changes (rows shaped by changesOf) to a rollup; groups whose sums do not change are skipped. */
function addToRollup(rollup: Rollup, changes: string): string {
  const keys = [rollup.grain, ...rollup.dimensions];
  const deltas = SUMS.map((sum) => `sum(${sum})`);
  return `INSERT INTO ${rollup.table} (${[...keys, ...SUMS].join(", ")})
  SELECT ${[...keys, ...deltas].join(", ")}
  FROM ${changes} GROUP BY ${keys.join(", ")}
  HAVING (${deltas.join(", ")}) IS DISTINCT FROM (${SUMS.map(() => "0").join(", ")})
  ON CONFLICT (${keys.join(", ")}) DO UPDATE SET ${SUMS.map((s) => `${s} = ${rollup.table}.${s} + excluded.${s}`).join(", ")}`;
}

/**
 * CTEs for the mover's statement, after `incoming` (the deduplicated rides it stores)
 * and `moved_month` (which deletes, and returns, the copies a resend moved to another
 * month). Every CTE of one statement reads the same snapshot, so the join below still
 * sees the same-month copy the upsert replaces: the old copies' contributions are taken
 * away and the new ones added. `zone` is the parameter holding RIDES_TIME_ZONE.
 */
export function maintainRollups(rollups: Rollup[], zone: string): string {
  if (rollups.length === 0) return "";
  const changes = `, rollup_changes AS MATERIALIZED (
  ${changesOf("incoming", "1", zone)}
  UNION ALL ${changesOf("moved_month", "-1", zone)}
  UNION ALL ${changesOf("(SELECT r.* FROM rides r JOIN incoming i ON r.id = i.id AND r.from_date = i.from_date) replaced", "-1", zone)}
)`;
  return changes + rollups.map((rollup) => `, ${rollup.table}_added AS (\n  ${addToRollup(rollup, "rollup_changes")}\n)`).join("");
}

/**
 * One statement per rollup that fills it from rides if it is empty (the rollup is new
 * to a database that already holds rides; stored rides always leave rollup rows), with
 * the zone as $1. Run under the mover's lock so no move interleaves.
 */
export const FILL_EMPTY_ROLLUPS = ROLLUPS.map((rollup) =>
  addToRollup(rollup, `(${changesOf(`rides WHERE NOT EXISTS (SELECT 1 FROM ${rollup.table})`, "1", "$1")}) changes`),
);
