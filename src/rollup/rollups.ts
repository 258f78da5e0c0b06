import { getTableConfig } from "drizzle-orm/pg-core";
import { ridesHourly, ridesHourlyByArea } from "../db/schema.ts";

// Great-circle distance in km (haversine, mean Earth radius), rounded to the metre per
// ride so that sums are exact numerics: the rollup and raw rides then agree to the digit.
// NULL when a coordinate is missing (least() alone would turn a NULL into 1).
const TRIP_KM = `CASE WHEN num_nulls(from_lat, from_long, to_lat, to_long) = 0 THEN round((2 * 6371.0088 * asin(least(1, sqrt(
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
  trip_km_rides: `(${TRIP_KM} IS NOT NULL)::int`,
} as const;

/** The rides columns the contributions read. */
const CONTRIBUTION_COLUMNS = ["from_date", "booking_created", "car_cancellation", "online_booking", "mobile_site_booking", "from_lat", "from_long", "to_lat", "to_long"];

export type Sum = keyof typeof CONTRIBUTIONS;
const SUMS = Object.keys(CONTRIBUTIONS) as Sum[];

export type Rollup = { table: string; dimensions: string[] };

/** The rollups, smallest first: a query goes to the first one holding all its members. */
export const ROLLUPS: Rollup[] = [ridesHourly, ridesHourlyByArea].map((table) => {
  const { name, columns } = getTableConfig(table);
  const dimensions = columns.map((c) => c.name).filter((c) => c !== "hour" && !(SUMS as string[]).includes(c));
  return { table: name, dimensions };
});

/** Rollup hours start on the whole hours of the zone's clock; `zone` is a SQL parameter reference. */
const hourOf = (zone: string) => `date_trunc('hour', from_date, ${zone})`;

/**
 * One INSERT adding the rides of `source` (with a `sign` column: +1 adds a ride, -1
 * takes it away) to a rollup. Groups whose sums do not change are skipped.
 */
function addToRollup(rollup: Rollup, source: string, zone: string): string {
  const keys = ["hour", ...rollup.dimensions];
  const deltas = SUMS.map((sum) => `sum(sign * ${CONTRIBUTIONS[sum]})`);
  return `INSERT INTO ${rollup.table} (${[...keys, ...SUMS].join(", ")})
  SELECT ${[hourOf(zone), ...rollup.dimensions, ...deltas].join(", ")}
  FROM ${source} GROUP BY ${keys.map((_, i) => i + 1).join(", ")}
  HAVING (${deltas.join(", ")}) IS DISTINCT FROM (${SUMS.map(() => "0").join(", ")})
  ON CONFLICT (${keys.join(", ")}) DO UPDATE SET ${SUMS.map((s) => `${s} = ${rollup.table}.${s} + excluded.${s}`).join(", ")}`;
}

/**
 * CTEs for the mover's statement (after `incoming`, the deduplicated rides it stores):
 * every CTE of one statement reads the same snapshot, so `previous` still sees the
 * stored copy a resend replaces; its contribution is taken away and the new one added.
 * `zone` is the parameter holding RIDES_TIME_ZONE.
 */
export function maintainRollups(rollups: Rollup[], zone: string): string {
  if (rollups.length === 0) return "";
  const fields = [...new Set([...CONTRIBUTION_COLUMNS, ...rollups.flatMap((r) => r.dimensions)])];
  const changes = `(SELECT 1 AS sign, ${fields.join(", ")} FROM incoming
    UNION ALL SELECT -1, ${fields.map((f) => `r.${f}`).join(", ")} FROM rides r JOIN incoming i ON r.id = i.id) changes`;
  return rollups.map((rollup) => `, ${rollup.table}_added AS (\n  ${addToRollup(rollup, changes, zone)}\n)`).join("");
}

/** Statements that recompute every rollup from rides, with the zone as $1 (run them under the mover's lock). */
export const REBUILD_ROLLUPS = ROLLUPS.flatMap((rollup) => [
  `TRUNCATE ${rollup.table}`,
  addToRollup(rollup, "(SELECT 1 AS sign, * FROM rides) changes", "$1"),
]);
