import type pg from "pg";
import { inTransaction } from "../db/client.ts";
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
