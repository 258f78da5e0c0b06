import type pg from "pg";
import { type Backlog, freshness, type Job, JOB_STATUSES, jobCounts, listJobs, recentIntake, stagingBacklog } from "../jobs/store.ts";

export const FRESHNESS_WINDOW_MINUTES = 15;

const NEWEST_PARTITION = `
SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'rides'::regclass ORDER BY c.relname DESC LIMIT 1`;
const PARTITION_NAME = /^rides_\d{4}_\d{2}$/;

// Hours are wall-clock hours in the rides' zone: the $2 * 24 hours up to the one holding
// $1, every one listed (zeros included), counting rides from the first hour's start to $1.
const RIDES_PER_HOUR = `
WITH bounds AS (
  SELECT date_trunc('hour', $1::timestamptz AT TIME ZONE $3) AS last_hour,
         date_trunc('hour', $1::timestamptz AT TIME ZONE $3) - make_interval(hours => $2 * 24 - 1) AS first_hour
), hours AS (
  SELECT generate_series(first_hour, last_hour, interval '1 hour') AS hour FROM bounds
), counts AS (
  SELECT date_trunc('hour', from_date AT TIME ZONE $3) AS hour, travel_type_id, count(*)::int AS rides
  FROM rides, bounds WHERE from_date >= first_hour AT TIME ZONE $3 AND from_date <= $1::timestamptz
  GROUP BY 1, 2
)
SELECT to_char(h.hour, 'YYYY-MM-DD HH24:00') AS hour, c.travel_type_id AS "travelType", c.rides
FROM hours h LEFT JOIN counts c USING (hour) ORDER BY h.hour, c.travel_type_id`;

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
};

/** The end of the chart's window when none is asked for: the newest ride's time (the data may be history). */
async function newestRide(pool: pg.Pool): Promise<Date> {
  const name = (await pool.query<{ name: string }>(NEWEST_PARTITION)).rows[0]?.name;
  if (!name || !PARTITION_NAME.test(name)) return new Date();
  const { rows } = await pool.query<{ at: Date | null }>(`SELECT max(from_date) AS at FROM "${name}"`);
  return rows[0].at ?? new Date();
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

/** Everything the dashboard shows, read from the database (so it is the same whichever process answers). */
export async function dashboardStats(pool: pg.Pool, zone: string, window: { days: number; until?: string }): Promise<DashboardStats> {
  const [intake, backlog, fresh, jobs, failed, lost, perHour] = await Promise.all([
    recentIntake(pool),
    stagingBacklog(pool),
    freshness(pool, FRESHNESS_WINDOW_MINUTES),
    jobCounts(pool),
    listJobs(pool, { status: "failed", limit: 10 }),
    listJobs(pool, { status: "lost", limit: 10 }),
    ridesPerHour(pool, zone, window.days, window.until),
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
  };
}
