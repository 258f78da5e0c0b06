import type pg from "pg";
import { ROLLUPS, rollupRows } from "../rollup/rollups.ts";
import {
  type Backlog,
  freshness,
  type Job,
  JOB_STATUSES,
  jobCounts,
  listJobs,
  type QuarantineStats,
  quarantineStats,
  recentIntake,
  stagingBacklog,
} from "../jobs/store.ts";
import type { Analytics } from "../query/analytics.ts";

export const FRESHNESS_WINDOW_MINUTES = 15;
/** The quarantine's most met reasons of the last hour the page lists. */
export const TOP_REASONS = 10;

const BY_TRAVEL_TYPE = ROLLUPS.find((rollup) => rollup.table === "rides_hourly_by_travel_type")!;

// Hours are wall-clock hours in the rides' zone: the $2 * 24 hours up to the one holding
// $1, every one listed (zeros included), each counted whole from the hourly rollup plus
// the changes still in its log, so the chart reads a few hundred rollup rows, never rides.
const RIDES_PER_HOUR = `
WITH bounds AS (
  SELECT date_trunc('hour', $1::timestamptz AT TIME ZONE $3) AS last_hour,
         date_trunc('hour', $1::timestamptz AT TIME ZONE $3) - make_interval(hours => $2 * 24 - 1) AS first_hour
), hours AS (
  SELECT generate_series(first_hour, last_hour, interval '1 hour') AS hour FROM bounds
), counts AS (
  SELECT hour AT TIME ZONE $3 AS hour, travel_type_id, sum(rides)::int AS rides
  FROM (${rollupRows(
    BY_TRAVEL_TYPE,
    ["rides"],
    "(SELECT first_hour AT TIME ZONE $3 FROM bounds)",
    "(SELECT (last_hour + interval '1 hour') AT TIME ZONE $3 FROM bounds)",
    "$3",
  )}) hourly
  GROUP BY 1, 2 HAVING sum(rides) <> 0
)
SELECT to_char(h.hour, 'YYYY-MM-DD HH24:00') AS hour, c.travel_type_id AS "travelType", c.rides
FROM hours h LEFT JOIN counts c USING (hour) ORDER BY h.hour, c.travel_type_id`;

// The newest hour the rollup holds rides for, or a newer ride still in its log: both by index or a small table.
const NEWEST_RIDE = `
SELECT greatest(
  (SELECT max(hour) FROM rides_hourly_by_travel_type WHERE rides > 0),
  (SELECT max(from_date) FROM rollup_log WHERE sign > 0)) AS at`;

export type RidesPerHour = { until: string; days: number; hours: string[]; byTravelType: Record<string, number[]> };

export type DashboardStats = {
  at: string;
  intake: { lastMinute: number; lastHour: number };
  backlog: Backlog;
  freshness: { windowMinutes: number; jobs: number; p50: number | null; p95: number | null; max: number | null };
  jobs: Record<(typeof JOB_STATUSES)[number], number>;
  failed: Job[];
  lost: Job[];
  ridesPerHour: RidesPerHour;
  /** Rejected rides kept per hour over the last day, and the last hour's top reasons. */
  quarantine: QuarantineStats;
};

/** What the page shows: the database's numbers and this process's open streams. */
export type DashboardView = DashboardStats & { openStreams: number };

/** The end of the chart's window when none is asked for: the newest ride's hour (the data may be history). */
async function newestRide(pool: pg.Pool): Promise<Date> {
  return (await pool.query<{ at: Date | null }>(NEWEST_RIDE)).rows[0].at ?? new Date();
}

async function ridesPerHour(pool: pg.Pool, zone: string, days: number, until?: string): Promise<RidesPerHour> {
  const end = until ? new Date(until) : await newestRide(pool);
  const { rows } = await pool.query<{ hour: string; travelType: number | null; rides: number | null }>(RIDES_PER_HOUR, [
    end.toISOString(),
    days,
    zone,
  ]);
  const position = new Map<string, number>();
  for (const row of rows) if (!position.has(row.hour)) position.set(row.hour, position.size);
  const hours = [...position.keys()];
  const byTravelType: Record<string, number[]> = {};
  for (const row of rows) {
    if (row.travelType === null) continue;
    const series = (byTravelType[row.travelType] ??= hours.map(() => 0));
    series[position.get(row.hour)!] = row.rides ?? 0;
  }
  return { until: end.toISOString(), days, hours, byTravelType };
}

/**
 * Everything the dashboard shows, read from the database (so it is the same whichever
 * process answers). The hourly chart is the heavy read and comes from analytics; the
 * rest from the primary (staging is unlogged: a standby has none of it).
 */
export async function dashboardStats(
  { pool, analytics }: { pool: pg.Pool; analytics: Analytics },
  zone: string,
  window: { days: number; until?: string },
): Promise<DashboardStats> {
  const [intake, backlog, fresh, jobs, failed, lost, perHour, quarantine] = await Promise.all([
    recentIntake(pool),
    stagingBacklog(pool),
    freshness(pool, FRESHNESS_WINDOW_MINUTES),
    jobCounts(pool),
    listJobs(pool, { status: "failed", limit: 10 }),
    listJobs(pool, { status: "lost", limit: 10 }),
    analytics.read((analyticsPool) => ridesPerHour(analyticsPool, zone, window.days, window.until)),
    quarantineStats(pool, TOP_REASONS),
  ]);
  return {
    at: new Date().toISOString(),
    intake,
    backlog,
    freshness: { windowMinutes: FRESHNESS_WINDOW_MINUTES, ...fresh },
    jobs,
    failed,
    lost,
    ridesPerHour: perHour,
    quarantine,
  };
}
