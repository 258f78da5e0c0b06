import type pg from "pg";
import { detachPartition, inTransaction } from "../db/client.ts";
import { wallTimeToInstant } from "../rides/time.ts";

const MONTH = /^(\d{4})-(\d{2})$/;

/**
 * Monthly partitions of rides, created the first time a month's data is moved
 * (history included). A month runs from midnight on the 1st in the producer's zone
 * (RIDES_TIME_ZONE), so a January ride in Bangalore is in the January partition. Names
 * and bounds come from a checked YYYY-MM, never from request text; the advisory lock
 * keeps two movers from racing on the same DDL.
 */
export function createPartitions(pool: pg.Pool, zone: string) {
  const known = new Set<string>();

  return async function ensure(months: Iterable<string>): Promise<void> {
    const missing = [...new Set(months)].filter((month) => !known.has(month));
    if (missing.length === 0) return;
    await inTransaction(pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('rides-partitions'))");
      for (const month of missing.sort()) await client.query(partitionDdl(month, zone));
    });
    for (const month of missing) known.add(month);
  };
}

export function partitionDdl(month: string, zone: string): string {
  const m = MONTH.exec(month);
  if (!m) throw new Error(`not a month: ${month}`);
  const year = Number(m[1]);
  const index = Number(m[2]) - 1;
  const start = new Date(wallTimeToInstant(Date.UTC(year, index, 1), zone)).toISOString();
  const end = new Date(wallTimeToInstant(Date.UTC(year, index + 1, 1), zone)).toISOString();
  return `CREATE TABLE IF NOT EXISTS "rides_${m[1]}_${m[2]}" PARTITION OF rides FOR VALUES FROM ('${start}') TO ('${end}')`;
}

/** A month partition of rides: attached, or left detached (or half detached) by a killed prune. */
export type RidesMonth = { name: string; month: string; attached: boolean; detachPending: boolean };

const RIDES_MONTHS = `
SELECT c.relname AS name, i.inhrelid IS NOT NULL AS attached, coalesce(i.inhdetachpending, false) AS "detachPending"
FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = 'rides'::regclass
WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace AND c.relname ~ '^rides_[0-9]{4}_[0-9]{2}$'
ORDER BY c.relname`;

/** The month partitions of rides before `month` (YYYY-MM), oldest first. */
export async function ridesMonthsBefore(pool: pg.Pool, month: string): Promise<RidesMonth[]> {
  const { rows } = await pool.query<Omit<RidesMonth, "month">>(RIDES_MONTHS);
  return rows.map((row) => ({ ...row, month: row.name.slice(6).replace("_", "-") })).filter((row) => row.month < month);
}

/**
 * Drops a month of rides: detached CONCURRENTLY first (SHARE UPDATE EXCLUSIVE on rides,
 * which neither the mover nor a query waits on), then dropped alone. The rollups keep it.
 */
export async function dropRidesMonth(pool: pg.Pool, month: RidesMonth): Promise<void> {
  if (month.attached || month.detachPending) await detachPartition(pool, { table: "rides", partition: month.name, finalize: month.detachPending });
  await pool.query(`DROP TABLE "${month.name}"`);
}

/** The start of the oldest month of rides kept (RIDES_RETENTION_MONTHS), or null while every month is kept. */
export async function ridesKeptFrom(pool: pg.Pool): Promise<Date | null> {
  return (await pool.query<{ kept_from: Date | null }>("SELECT kept_from FROM rides_retention")).rows[0].kept_from;
}

/** Refuses rides before `from` from now on (it only moves forward). */
export async function keepRidesFrom(pool: pg.Pool, from: Date): Promise<void> {
  await pool.query("UPDATE rides_retention SET kept_from = greatest(coalesce(kept_from, $1), $1)", [from]);
}

/** The instant `month` (YYYY-MM) starts on the wall clock of zone. */
export function monthStart(month: string, zone: string): Date {
  const m = MONTH.exec(month);
  if (!m) throw new Error(`not a month: ${month}`);
  return new Date(wallTimeToInstant(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1), zone));
}

/** The month `months` before `month` (both YYYY-MM). */
export function monthsBefore(month: string, months: number): string {
  const m = MONTH.exec(month)!;
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1 - months, 1)).toISOString().slice(0, 7);
}
