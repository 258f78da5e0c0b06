import { offsetAt } from "../rides/time.ts";
import { ROLLUPS, type Rollup } from "../rollup/rollups.ts";
import type { Filter, Query } from "./dsl.ts";
import { MEASURES } from "./members.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * The rollup that answers a query exactly, or undefined for raw rides: it must hold
 * every dimension and filtered member, sum every measure, bucket by from_date, and its
 * hours (whole hours on rollupZone's clock) must tile the range and the query's buckets.
 */
export function chooseRollup(query: Query, rollupZone: string): Rollup | undefined {
  const { time } = query;
  if (time.field !== "from_date" || query.measures.some((m) => "rawOnly" in MEASURES[m])) return undefined;
  const isHourStart = (instant: number) => (instant + offsetAt(rollupZone, instant)) % HOUR_MS === 0;
  if (!isHourStart(time.from) || !isHourStart(time.to)) return undefined;
  if (time.granularity && !sameHours(time.tz, rollupZone, time.from, time.to)) return undefined;
  const members = new Set([...query.dimensions, ...query.filters.flatMap(filterMembers)]);
  return ROLLUPS.find((rollup) => [...members].every((m) => rollup.dimensions.includes(m)));
}

function filterMembers(filter: Filter): string[] {
  if ("and" in filter) return filter.and.flatMap(filterMembers);
  if ("or" in filter) return filter.or.flatMap(filterMembers);
  return [filter.member];
}

/**
 * Whether two zones start their hours at the same instants over a range: their offsets
 * differ by whole hours. Offsets change only a few times a year and hold for months, so
 * a daily check (and the range's last instant) sees every change.
 */
function sameHours(a: string, b: string, from: number, to: number): boolean {
  for (let t = from; ; t = Math.min(t + DAY_MS, to)) {
    if ((offsetAt(a, t) - offsetAt(b, t)) % HOUR_MS !== 0) return false;
    if (t === to) return true;
  }
}
