/**
 * Times arrive as ISO 8601 (with or without an offset). One without an offset is a
 * wall-clock time in the sender's zone; it is turned into an instant here, once, so
 * everything downstream stores and compares UTC.
 */
const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

const formatters = new Map<string, Intl.DateTimeFormat>();
/** zone → quarter hour since the epoch → offset; numeric keys keep the per-time lookups cheap. */
const offsets = new Map<string, Map<number, number>>();

function zoneFormatter(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

/** The zone's offset from UTC in ms at an instant; cached per quarter hour, the finest step real zones change on. */
export function offsetAt(zone: string, instant: number): number {
  let zoneOffsets = offsets.get(zone);
  if (!zoneOffsets) {
    zoneOffsets = new Map();
    offsets.set(zone, zoneOffsets);
  }
  const key = Math.floor(instant / 900_000);
  let offset = zoneOffsets.get(key);
  if (offset === undefined) {
    const parts: Record<string, number> = {};
    for (const part of zoneFormatter(zone).formatToParts(instant)) parts[part.type] = Number(part.value);
    const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
    offset = wall - Math.floor(instant / 1000) * 1000;
    if (zoneOffsets.size > 100_000) zoneOffsets.clear();
    zoneOffsets.set(key, offset);
  }
  return offset;
}

const DAY_MS = 86_400_000;

/**
 * The instant a wall-clock time in zone denotes: the earlier one when a DST change
 * repeats it, and for one a DST gap skips, the instant the old offset would give.
 */
export function wallTimeToInstant(wall: number, zone: string): number {
  const before = wall - offsetAt(zone, wall - DAY_MS);
  const after = wall - offsetAt(zone, wall + DAY_MS);
  const beforeValid = before + offsetAt(zone, before) === wall;
  const afterValid = after + offsetAt(zone, after) === wall;
  if (beforeValid && afterValid) return Math.min(before, after);
  return afterValid ? after : before;
}

/** "YYYY-MM" of the month an instant falls in, on the wall clock of zone. */
export function monthIn(instant: number, zone: string): string {
  return new Date(instant + offsetAt(zone, instant)).toISOString().slice(0, 7);
}

export type ParsedTime = { ok: true; instant: number } | { ok: false; message: string };

/**
 * An ISO 8601 date-time → its instant. Without an offset it is a wall-clock time in
 * zone (requireOffset refuses that, for RFC 3339 timestamps). Only real calendar times
 * and offsets (at most ±18:00, minutes 00–59) pass, and digits past the millisecond must
 * be zeros: a time is stored to the millisecond, and a value is never silently cut.
 */
export function parseTime(text: string, zone: string, { requireOffset = false } = {}): ParsedTime {
  const m = ISO.exec(text);
  if (!m) return { ok: false, message: `"${clip(text)}" is not an ISO 8601 date-time such as 2013-01-01T02:00:00+05:30` };
  const [, y, mo, d, h, mi, s = "0", frac = "0", zoneSuffix] = m;
  const year = Number(y), month = Number(mo), day = Number(d), hour = Number(h), minute = Number(mi), second = Number(s);
  const wall = Date.UTC(year, month - 1, day, hour, minute, second, Number(frac.padEnd(3, "0").slice(0, 3)));
  const check = new Date(wall);
  if (
    year < 1000 ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return { ok: false, message: `"${clip(text)}" is not a real calendar date and time` };
  }
  if (/[1-9]/.test(frac.slice(3))) return { ok: false, message: `"${clip(text)}" is finer than a millisecond, which is as fine as times are kept` };
  if (zoneSuffix === undefined) {
    if (requireOffset) return { ok: false, message: `"${clip(text)}" has no offset; add Z or ±hh:mm` };
    return { ok: true, instant: wallTimeToInstant(wall, zone) };
  }
  if (zoneSuffix.toUpperCase() === "Z") return { ok: true, instant: wall };
  const sign = zoneSuffix[0] === "-" ? -1 : 1;
  const digits = zoneSuffix.slice(1).replace(":", "");
  const offsetHours = Number(digits.slice(0, 2));
  const offsetMinutes = Number(digits.slice(2) || "0");
  if (offsetMinutes > 59) return { ok: false, message: `"${clip(text)}" has an offset with ${offsetMinutes} minutes; minutes go to 59` };
  if (offsetHours * 60 + offsetMinutes > 18 * 60) return { ok: false, message: `"${clip(text)}" has an offset beyond ±18:00` };
  return { ok: true, instant: wall - sign * (offsetHours * 60 + offsetMinutes) * 60_000 };
}

export function clip(text: string, max = 40): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
