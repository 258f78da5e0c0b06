import { offsetAt } from "../rides/time.ts";
import { ROLLUPS, type Rollup } from "../rollup/rollups.ts";
import type { Filter, Query } from "./dsl.ts";
import { MEASURES } from "./members.ts";

const GRAIN_MS = { hour: 3_600_000, day: 86_400_000 };

/**
 * The first rollup that answers a query exactly, or undefined for raw rides: it must
 * hold every dimension and filtered member, sum every measure, bucket by from_date, and
 * its hours or days (on rollupZone's clock) must tile the range and the query's buckets.
 */
export function chooseRollup(query: Query, rollupZone: string): Rollup | undefined {
  const { time } = query;
  if (time.field !== "from_date" || query.measures.some((m) => "rawOnly" in MEASURES[m])) return undefined;
  const members = [...query.dimensions, ...query.filters.flatMap(filterMembers)];
  return ROLLUPS.find((rollup) => {
    if (!members.every((m) => rollup.dimensions.includes(m))) return false;
    if (rollup.grain === "day" && time.granularity === "hour") return false;
    const grain = GRAIN_MS[rollup.grain];
    const starts = (instant: number) => (instant + offsetAt(rollupZone, instant)) % grain === 0;
    if (!starts(time.from) || !starts(time.to)) return false;
    return !time.granularity || sameStarts(time.tz, rollupZone, grain, time.from, time.to);
  });
}

function filterMembers(filter: Filter): string[] {
  if ("and" in filter) return filter.and.flatMap(filterMembers);
  if ("or" in filter) return filter.or.flatMap(filterMembers);
  return [filter.member];
}

/**
 * Whether two zones start their hours (or days) at the same instants over a range: their
 * offsets differ by whole grains. Offsets change only a few times a year and hold for
 * months, so a daily check (and the range's last instant) sees every change.
 */
function sameStarts(a: string, b: string, grain: number, from: number, to: number): boolean {
  for (let t = from; ; t = Math.min(t + GRAIN_MS.day, to)) {
    if ((offsetAt(a, t) - offsetAt(b, t)) % grain !== 0) return false;
    if (t === to) return true;
  }
}
