import type pg from "pg";
import { type Job, JOB_STATUSES, listJobs, markLost } from "../jobs/status.ts";
import { type Backlog, jobCounts, stagingBacklog } from "../observability/database-stats.ts";
import type { Analytics } from "../query/analytics.ts";

export const FRESHNESS_WINDOW_MINUTES = 15;

// Every status, so the (status, received_at) index serves a time range over all jobs.
const INTAKE = `
SELECT coalesce(sum(accepted) FILTER (WHERE received_at > now() - interval '1 minute'), 0)::int AS "lastMinute",
       coalesce(sum(accepted), 0)::int AS "lastHour"
FROM jobs WHERE status = ANY($1) AND received_at > now() - interval '1 hour'`;

const FRESHNESS = `
SELECT count(*)::int AS jobs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds) AS p95,
       max(seconds) AS max
FROM (
  SELECT extract(epoch FROM finished_at - received_at)::float8 AS seconds
  FROM jobs WHERE status = 'done' AND received_at > now() - make_interval(mins => $1)
) done`;

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

/** What the page shows: the database's numbers and this process's open streams. */
export type DashboardView = DashboardStats & { openStreams: number };

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
  // First, so the counts below already show a job whose staged rides vanished as lost.
  await markLost(pool);
  const [intake, backlog, freshness, jobs, failed, lost, perHour] = await Promise.all([
    pool.query(INTAKE, [JOB_STATUSES]).then((result) => result.rows[0]),
    stagingBacklog(pool),
    pool.query(FRESHNESS, [FRESHNESS_WINDOW_MINUTES]).then((result) => result.rows[0]),
    jobCounts(pool),
    listJobs(pool, { status: "failed", limit: 10 }),
    listJobs(pool, { status: "lost", limit: 10 }),
    analytics.read((analyticsPool) => ridesPerHour(analyticsPool, zone, window.days, window.until)),
  ]);
  return {
    at: new Date().toISOString(),
    intake,
    backlog,
    freshness: { windowMinutes: FRESHNESS_WINDOW_MINUTES, ...freshness },
    jobs,
    failed,
    lost,
    ridesPerHour: perHour,
  };
}
