// Great-circle distance in whole metres (haversine, mean Earth radius): integer sums are
// exact, so the rollup and raw rides agree to the digit, and cheaper than numeric ones.
const HAS_COORDINATES = "num_nulls(from_lat, from_long, to_lat, to_long) = 0";
// NULL when a coordinate is missing (least() alone would turn a NULL into 1).
const TRIP_M = `CASE WHEN ${HAS_COORDINATES} THEN round(2 * 6371008.8 * asin(least(1, sqrt(
  power(sin(radians(to_lat - from_lat) / 2), 2)
  + cos(radians(from_lat)) * cos(radians(to_lat)) * power(sin(radians(to_long - from_long) / 2), 2)))))::bigint END`;

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
  trip_m: `coalesce(${TRIP_M}, 0)`,
  trip_km_rides: `(${HAS_COORDINATES})::int`,
} as const;

export type Sum = keyof typeof CONTRIBUTIONS;
export const SUMS = Object.keys(CONTRIBUTIONS) as Sum[];

export const GRAINS = ["hour", "day", "month"] as const;
export type Grain = (typeof GRAINS)[number];
/** A rollup: its table, its time grain (also the name of its time column) and its dimensions. */
export type Rollup = { table: string; grain: Grain; dimensions: string[] };

/**
 * The rollups, smallest first: a query goes to the first one that answers it exactly.
 * Their tables are declared in src/db/schema.ts (test/rollup/rollups.test.ts holds the
 * two together); this plain list keeps drizzle-orm's ES modules, ~250 MB of peak RSS
 * on Node 24, out of the running service.
 */
export const ROLLUPS: Rollup[] = [
  { table: "rides_monthly_by_model", grain: "month", dimensions: ["travel_type_id", "vehicle_model_id"] },
  { table: "rides_monthly_by_area", grain: "month", dimensions: ["from_area_id"] },
  { table: "rides_daily_by_model", grain: "day", dimensions: ["travel_type_id", "vehicle_model_id"] },
  { table: "rides_hourly_by_travel_type", grain: "hour", dimensions: ["travel_type_id"] },
  { table: "rides_hourly_by_model", grain: "hour", dimensions: ["travel_type_id", "vehicle_model_id"] },
  { table: "rides_daily_by_area", grain: "day", dimensions: ["from_area_id"] },
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
/** The columns of rides that rollup_log keeps: the time, every rollup dimension and what the sums are computed from. */
const LOGGED_FIELDS = ["from_date", "booking_created", ...ALL_DIMENSIONS, "from_lat", "from_long", "to_lat", "to_long"];

/**
 * Rows of `from` (shaped like rides) as rollup changes: the rollup's time bucket on the
 * zone's clock (`zone` being a SQL parameter reference), its dimensions, and each sum's
 * contribution times `sign` (an SQL expression: 1 adds a ride, -1 takes it away).
 */
const changesOf = (rollup: Rollup, from: string, sign: string, zone: string, sums: Sum[] = SUMS) =>
  `SELECT date_trunc('${rollup.grain}', from_date, ${zone}) AS ${rollup.grain}, ${rollup.dimensions.join(", ")},
    ${sums.map((s) => `${sign} * ${CONTRIBUTIONS[s]} AS ${s}`).join(", ")}
  FROM ${from}`;

/** One INSERT adding summed changes (rows shaped like the rollup) to a rollup; groups whose sums do not change are skipped. */
function upsert(rollup: Rollup, changes: string): string {
  const columns = [rollup.grain, ...rollup.dimensions, ...SUMS].join(", ");
  return `INSERT INTO ${rollup.table} (${columns})
  SELECT ${columns} FROM ${changes}
  WHERE (${SUMS.join(", ")}) IS DISTINCT FROM (${SUMS.map(() => "0").join(", ")})
  ON CONFLICT (${[rollup.grain, ...rollup.dimensions].join(", ")}) DO UPDATE SET ${SUMS.map((s) => `${s} = ${rollup.table}.${s} + excluded.${s}`).join(", ")}`;
}

const logged = LOGGED_FIELDS.join(", ");

/**
 * A CTE for the mover's statement, after `incoming` (the deduplicated rides it stores)
 * and `stored_copies` (their copies stored before, which it deletes when a resend moved
 * the ride to another month and overwrites otherwise): it logs the stored rides and takes
 * away the copies they replace. Every CTE of one statement reads the same snapshot, so
 * stored_copies still holds what the upsert overwrites.
 */
export const LOG_ROLLUP_CHANGES = `, rollup_logged AS (
  INSERT INTO rollup_log (sign, ${logged})
  SELECT 1, ${logged} FROM incoming
  UNION ALL SELECT -1, ${logged} FROM stored_copies
)`;

/** Serialises folders cluster-wide: two folding the same groups at once could deadlock. */
export const FOLDER_LOCK = "SELECT pg_advisory_xact_lock(hashtext('rides-rollup-folder'))";

/**
 * The order a fold computes the rollups' changes in, and where each takes them from:
 * the narrowest rollup already computed that holds its dimensions (its changes are
 * fewer rows than the log), or else the logged rows themselves.
 */
const FOLD_PLAN = [...ROLLUPS]
  .sort((a, b) => GRAINS.indexOf(a.grain) - GRAINS.indexOf(b.grain) || b.dimensions.length - a.dimensions.length)
  .map((rollup, i, ordered) => ({
    rollup,
    from: ordered
      .slice(0, i)
      .filter((finer) => rollup.dimensions.every((d) => finer.dimensions.includes(d)))
      .sort((a, b) => a.dimensions.length - b.dimensions.length || GRAINS.indexOf(b.grain) - GRAINS.indexOf(a.grain))[0],
  }));

/** Changes summed by a rollup's keys, from rows whose time column `time` is a finer bucket than the rollup's. */
function summed(rollup: Rollup, from: string, time: string, zone: string): string {
  const bucket = time === rollup.grain ? time : `date_trunc('${rollup.grain}', ${time}, ${zone})`;
  return `SELECT ${bucket} AS ${rollup.grain}, ${rollup.dimensions.join(", ")}, ${SUMS.map((s) => `sum(${s}) AS ${s}`).join(", ")}
  FROM ${from} GROUP BY ${[rollup.grain, ...rollup.dimensions].map((_, i) => i + 1).join(", ")}`;
}

/**
 * Folds up to $2 logged changes into every rollup in one statement, the zone being $1:
 * the rows leave the log and enter the rollups in the same transaction, so a query,
 * which adds the log to its rollup, counts each change once at any moment. Each
 * contribution is computed once per logged row; coarser rollups sum finer ones' changes.
 */
export const FOLD_ROLLUP_LOG = `WITH taken AS MATERIALIZED (
  DELETE FROM rollup_log WHERE ctid = ANY(ARRAY(SELECT ctid FROM rollup_log LIMIT $2)) RETURNING *
), changes AS MATERIALIZED (
  SELECT date_trunc('hour', from_date, $1) AS hour, ${ALL_DIMENSIONS.join(", ")},
    ${SUMS.map((s) => `sign * ${CONTRIBUTIONS[s]} AS ${s}`).join(", ")}
  FROM taken
)${FOLD_PLAN.map(
  ({ rollup, from }) => `, ${rollup.table}_changes AS MATERIALIZED (
  ${summed(rollup, from ? `${from.table}_changes` : "changes", from ? from.grain : "hour", "$1")}
), ${rollup.table}_added AS (
  ${upsert(rollup, `${rollup.table}_changes`)}
)`,
).join("")}
SELECT count(*)::int AS folded FROM taken`;

/**
 * One statement per rollup that fills it from rides if it is empty (the rollup is new
 * to a database that already holds rides; stored rides always leave rollup rows), with
 * the zone as $1. The rides still in rollup_log are left out, as folding adds them.
 * Run under the mover's and the folder's locks so neither interleaves.
 */
export const FILL_EMPTY_ROLLUPS = ROLLUPS.map((rollup) =>
  upsert(
    rollup,
    `(${summed(
      rollup,
      `(${changesOf(rollup, `rides WHERE NOT EXISTS (SELECT 1 FROM ${rollup.table})`, "1", "$1")}
  UNION ALL ${changesOf(rollup, `rollup_log WHERE NOT EXISTS (SELECT 1 FROM ${rollup.table})`, "-sign", "$1")}) changes`,
      rollup.grain,
      "$1",
    )}) summed`,
  ),
);

/**
 * Whether FILL_EMPTY_ROLLUPS has anything to do: one query of a row per table, where
 * the fill statements themselves (JIT-compiled, planned over every partition) took
 * seconds at each start of a database holding many rides although they inserted nothing.
 */
export const ROLLUPS_NEED_FILLING = `SELECT EXISTS (SELECT 1 FROM rides) AND (${ROLLUPS.map((rollup) => `NOT EXISTS (SELECT 1 FROM ${rollup.table})`).join(" OR ")}) AS needed`;

/**
 * A rollup's `sums` over a half-open range [$from, $to) on its time column, plus the
 * changes still in the log: what a query over the rollup reads. from and to are SQL
 * parameter references; the router only sends ranges that start and end on the rollup's
 * buckets, so filtering the log's from_date by the same bounds selects the same buckets.
 * Only the sums a query uses are read, so the log's rows cost no more than they must.
 */
export const rollupRows = (rollup: Rollup, sums: Sum[], from: string, to: string, zone: string) =>
  `SELECT ${[rollup.grain, ...rollup.dimensions, ...sums].join(", ")} FROM ${rollup.table}
    WHERE ${rollup.grain} >= ${from} AND ${rollup.grain} < ${to}
  UNION ALL ${changesOf(rollup, "rollup_log", "sign", zone, sums)}
    WHERE from_date >= ${from} AND from_date < ${to}`;
