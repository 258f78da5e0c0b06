import type { Sum } from "../rollup/rollups.ts";

/** Dimensions: the name is the rides (and rollup) column; the type decides which values and operators fit. */
export const DIMENSIONS = {
  travel_type_id: "integer",
  vehicle_model_id: "integer",
  package_id: "integer",
  from_area_id: "integer",
  to_area_id: "integer",
  from_city_id: "integer",
  online_booking: "boolean",
  mobile_site_booking: "boolean",
  car_cancellation: "boolean",
} as const;

export type Dimension = keyof typeof DIMENSIONS;
export const DIMENSION_NAMES = Object.keys(DIMENSIONS) as Dimension[];

/**
 * Measures as formulas over rollup sums (`sum(name)` stands for the sum, written by the
 * compiler for the source). Counts come out as integers, the rest as numbers rounded
 * in numeric arithmetic, so both sources give the same digits. distinct_users cannot be
 * summed across hours, so it has raw SQL and forces the rides source.
 */
type Measure = { sums: Sum[]; formula: (sum: (name: Sum) => string) => string; kind: "count" | "ratio"; rawOnly?: true };

const share = (part: Sum): Measure => ({
  sums: [part, "rides"],
  formula: (sum) => `round(${sum(part)}::numeric / nullif(${sum("rides")}, 0), 6)::float8`,
  kind: "ratio",
});

export const MEASURES = {
  count: { sums: ["rides"], formula: (sum) => `${sum("rides")}::bigint`, kind: "count" },
  cancellations: { sums: ["cancellations"], formula: (sum) => `${sum("cancellations")}::bigint`, kind: "count" },
  cancellation_rate: share("cancellations"),
  distinct_users: { sums: [], formula: () => "count(DISTINCT user_id)", kind: "count", rawOnly: true },
  online_share: share("online_bookings"),
  mobile_share: share("mobile_bookings"),
  avg_lead_minutes: {
    sums: ["lead_seconds", "rides"],
    formula: (sum) => `round(${sum("lead_seconds")} / nullif(${sum("rides")}, 0) / 60, 4)::float8`,
    kind: "ratio",
  },
  avg_trip_km: {
    sums: ["trip_m", "trip_km_rides"],
    formula: (sum) => `round(${sum("trip_m")} / 1000.0 / nullif(${sum("trip_km_rides")}, 0), 3)::float8`,
    kind: "ratio",
  },
} satisfies Record<string, Measure>;

export type MeasureName = keyof typeof MEASURES;
export const MEASURE_NAMES = Object.keys(MEASURES) as MeasureName[];

export const TIME_FIELDS = ["from_date", "booking_created"] as const;
export const GRANULARITIES = ["hour", "day", "week", "month"] as const;

export const OPERATORS = [
  "equals",
  "not_equals",
  "in",
  "not_in",
  "gt",
  "gte",
  "lt",
  "lte",
  "between",
  "is_null",
  "is_not_null",
] as const;
export type Operator = (typeof OPERATORS)[number];
