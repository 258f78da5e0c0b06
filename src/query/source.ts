import { offsetAt } from "../rides/time.ts";
import { type Grain, ROLLUPS, type Rollup } from "../rollup/rollups.ts";
import type { Filter, Query } from "./dsl.ts";
import { MEASURES } from "./members.ts";

/** A rollup a query goes to, with the zone (RIDES_TIME_ZONE) on whose clock its buckets were cut. */
export type ChosenRollup = Rollup & { zone: string };

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** The query granularities whose buckets are whole buckets of a rollup grain. */
const BUCKETS_OF: Record<Grain, string[]> = { hour: ["hour", "day", "week", "month"], day: ["day", "week", "month"], month: ["month"] };

/**
 * The first rollup that answers a query exactly, or undefined for raw rides: it must
 * hold every dimension and filtered member, sum every measure, bucket by from_date, and
 * its buckets (on rollupZone's clock) must tile the range and the query's buckets.
 */
export function chooseRollup(query: Query, rollupZone: string): ChosenRollup | undefined {
  const { time } = query;
  if (time.field !== "from_date" || query.measures.some((m) => "rawOnly" in MEASURES[m])) return undefined;
  const members = [...query.dimensions, ...query.filters.flatMap(filterMembers)];
  const rollup = ROLLUPS.find((rollup) => {
    if (!members.every((m) => rollup.dimensions.includes(m))) return false;
    if (time.granularity && !BUCKETS_OF[rollup.grain].includes(time.granularity)) return false;
    if (!startsBucket(rollup.grain, rollupZone, time.from) || !startsBucket(rollup.grain, rollupZone, time.to)) return false;
    return !time.granularity || sameStarts(time.tz, rollupZone, rollup.grain, time.from, time.to);
  });
  return rollup && { ...rollup, zone: rollupZone };
}

/** Whether an instant is the start of an hour, day or month on a zone's clock. */
function startsBucket(grain: Grain, zone: string, instant: number): boolean {
  const wall = instant + offsetAt(zone, instant);
  if (grain === "hour") return wall % HOUR_MS === 0;
  return wall % DAY_MS === 0 && (grain === "day" || new Date(wall).getUTCDate() === 1);
}

function filterMembers(filter: Filter): string[] {
  if ("and" in filter) return filter.and.flatMap(filterMembers);
  if ("or" in filter) return filter.or.flatMap(filterMembers);
  return [filter.member];
}

/**
 * Whether two zones start their buckets at the same instants over a range: their
 * offsets differ by whole hours (days), or not at all for months, whose lengths vary.
 * Offsets change only a few times a year and hold for months, so a daily check (and
 * the range's last instant) sees every change.
 */
function sameStarts(a: string, b: string, grain: Grain, from: number, to: number): boolean {
  for (let t = from; ; t = Math.min(t + DAY_MS, to)) {
    const apart = offsetAt(a, t) - offsetAt(b, t);
    if (grain === "month" ? apart !== 0 : apart % (grain === "hour" ? HOUR_MS : DAY_MS) !== 0) return false;
    if (t === to) return true;
  }
}
