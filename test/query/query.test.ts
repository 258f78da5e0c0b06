import { beforeAll, describe, expect, it } from "vitest";
import { post } from "../support/service.ts";
import { withSampleRides } from "./sample-service.ts";

const sample = withSampleRides({ QUERY_MAX_ROWS: "500" });
/** The stored sample rides, read back from PostgreSQL: the oracle the answers are checked against. */
let rides: Record<string, any>[];

const JANUARY = { from: "2013-01-01T00:00:00+05:30", to: "2013-02-01T00:00:00+05:30", tz: "Asia/Kolkata" };

beforeAll(async () => {
  rides = (await sample.db.pool.query("SELECT * FROM rides")).rows;
});

const ask = (query: unknown, params = "") => post(sample.service.url, JSON.stringify(query), "application/json", `/v1/query${params}`);

async function answer(query: Record<string, unknown>) {
  const { status, body } = await ask({ time: JANUARY, ...query });
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
}

const inJanuary = (r: Record<string, any>) =>
  r.from_date >= new Date("2012-12-31T18:30:00Z") && r.from_date < new Date("2013-01-31T18:30:00Z");

describe("POST /v1/query", () => {
  it("counts the sample's rides by travel type, from the rollup", async () => {
    const body = await answer({ measures: ["count", "cancellations"], dimensions: ["travel_type_id"] });
    expect(body.columns).toEqual(["travel_type_id", "count", "cancellations"]);
    expect(body.source).toBe("rollup");
    expect(typeof body.took_ms).toBe("number");
    const expected = [1, 2, 3]
      .map((t) => {
        const of = rides.filter((r) => r.travel_type_id === t && inJanuary(r));
        return [t, of.length, of.filter((r) => r.car_cancellation).length];
      })
      .filter(([, n]) => n > 0);
    expect(body.rows).toEqual(expected);
  });

  it("labels travel types from the travel_types table, and takes a zone in any case as both sides do", async () => {
    const body = await answer({ measures: ["count"], dimensions: ["travel_type_id"], time: { ...JANUARY, tz: "asia/kolkata" } });
    expect(body.labels).toEqual({ travel_type_id: { 1: "long distance", 2: "point to point", 3: "hourly rental" } });
    expect((await answer({ measures: ["count"], dimensions: ["vehicle_model_id"] })).labels).toBeUndefined();
  });

  it("answers distinct_users and booking_created from rides", async () => {
    const users = await answer({ measures: ["distinct_users"] });
    expect(users.source).toBe("rides");
    expect(users.rows).toEqual([[new Set(rides.filter(inJanuary).map((r) => r.user_id)).size]]);
    const booked = await answer({ measures: ["count"], time: { ...JANUARY, field: "booking_created" } });
    expect(booked.source).toBe("rides");
    const inRange = rides.filter((r) => r.booking_created >= new Date("2012-12-31T18:30:00Z") && r.booking_created < new Date("2013-01-31T18:30:00Z"));
    expect(booked.rows).toEqual([[inRange.length]]);
  });

  it("computes every summable measure from the rollup", async () => {
    const measures = ["count", "cancellations", "cancellation_rate", "online_share", "mobile_share", "avg_lead_minutes", "avg_trip_km"];
    const fromRollup = await answer({ measures, dimensions: ["vehicle_model_id"] });
    const january = rides.filter(inJanuary);
    expect(fromRollup.source).toBe("rollup");
    const model12 = january.filter((r) => r.vehicle_model_id === 12);
    const row = fromRollup.rows.find((r: unknown[]) => r[0] === 12);
    const lead = model12.reduce((s, r) => s + (r.from_date - r.booking_created) / 60_000, 0) / model12.length;
    expect(row[1]).toBe(model12.length);
    expect(row[3]).toBeCloseTo(model12.filter((r) => r.car_cancellation).length / model12.length, 6);
    expect(row[4]).toBeCloseTo(model12.filter((r) => r.online_booking).length / model12.length, 6);
    expect(row[6]).toBeCloseTo(lead, 3);
    const withTrip = model12.filter((r) => r.to_lat !== null && r.from_lat !== null);
    expect(row[7]).toBeCloseTo(withTrip.reduce((s, r) => s + haversine(r), 0) / withTrip.length, 2);
  });

  it("buckets by day in the query's zone and fills empty buckets", async () => {
    const week = { from: "2013-01-01T00:00:00", to: "2013-01-08T00:00:00", tz: "Asia/Kolkata", granularity: "day" };
    const sparse = await answer({ measures: ["count", "cancellation_rate"], time: week });
    const filled = await answer({ measures: ["count", "cancellation_rate"], time: week, fill_gaps: true });
    expect(filled.rows.map((r: unknown[]) => r[0])).toEqual(
      ["01", "02", "03", "04", "05", "06", "07"].map((d) => `2013-01-${d}T00:00:00+05:30`),
    );
    for (const row of filled.rows) {
      const day = sparse.rows.find((r: unknown[]) => r[0] === row[0]);
      expect(row).toEqual(day ?? [row[0], 0, null]);
      const start = new Date(row[0] as string).getTime();
      expect(row[1]).toBe(rides.filter((r) => r.from_date.getTime() >= start && r.from_date.getTime() < start + 86_400_000).length);
    }
  });

  it("writes buckets with the zone's offset of the day, whole hours too, across a DST change", async () => {
    // London left summer time on 2012-10-28; the sample's rides begin in the last hours of 2012.
    const time = { from: "2012-10-27T00:00:00", to: "2013-01-02T00:00:00", tz: "Europe/London", granularity: "day" };
    const body = await answer({ measures: ["count"], time, fill_gaps: true });
    expect(body.rows.slice(0, 3).map((r: unknown[]) => r[0])).toEqual(["2012-10-27T00:00:00+01:00", "2012-10-28T00:00:00+01:00", "2012-10-29T00:00:00+00:00"]);
    expect(body.rows.at(-1)[0]).toBe("2013-01-01T00:00:00+00:00");
    expect(body.rows.reduce((n: number, r: unknown[]) => n + (r[1] as number), 0)).toBe(
      rides.filter((r) => r.from_date >= new Date("2012-10-26T23:00:00Z") && r.from_date < new Date("2013-01-02T00:00:00Z")).length,
    );
  });

  it("fills gaps per dimension value", async () => {
    const time = { from: "2013-01-01T00:00:00", to: "2013-01-03T00:00:00", tz: "Asia/Kolkata", granularity: "day" };
    const body = await answer({ measures: ["count"], dimensions: ["travel_type_id"], time, fill_gaps: true });
    const types = [...new Set(body.rows.map((r: unknown[]) => r[1]))];
    expect(body.rows).toHaveLength(2 * types.length);
  });

  it("orders, limits and explains", async () => {
    const body = (
      await ask(
        { measures: ["count"], dimensions: ["from_area_id"], time: JANUARY, order: [{ member: "count", direction: "desc" }], limit: 3 },
        "?explain=1",
      )
    ).body;
    expect(body.source).toBe("rollup");
    expect(body.rollup).toBe("rides_monthly_by_area");
    const counts = new Map<unknown, number>();
    for (const r of rides.filter(inJanuary)) counts.set(r.from_area_id, (counts.get(r.from_area_id) ?? 0) + 1);
    const top = [...counts.values()].sort((a, b) => b - a).slice(0, 3);
    expect(body.rows.map((r: unknown[]) => r[1])).toEqual(top);
    expect(body.sql).toMatch(/FROM rides_monthly_by_area/);
    expect(body.sql).toMatch(/FROM rollup_log/);
    expect(body.sql).toMatch(/LIMIT \$\d+/);
    expect(body.params).toContain(3);
    const plain = (await ask({ measures: ["count"], time: JANUARY })).body;
    expect(plain.sql).toBeUndefined();
  });

  it("goes to rides when the query's hours do not line up with the rollup's", async () => {
    // UTC hours start at :00 UTC; the rollup's Asia/Kolkata hours at :30 UTC.
    const utc = await answer({ measures: ["count"], time: { ...JANUARY, tz: "UTC", granularity: "day" } });
    expect(utc.source).toBe("rides");
    const colombo = await answer({ measures: ["count"], time: { ...JANUARY, tz: "Asia/Colombo", granularity: "day" } });
    expect(colombo.source).toBe("rollup");
    const offHour = await answer({ measures: ["count"], time: { ...JANUARY, from: "2013-01-01T00:15:00+05:30" } });
    expect(offHour.source).toBe("rides");
    const explained = async (time: Record<string, string>) =>
      (await ask({ measures: ["count"], dimensions: ["vehicle_model_id"], time: { ...JANUARY, ...time } }, "?explain=1")).body.rollup;
    expect(await explained({})).toBe("rides_monthly_by_model");
    expect(await explained({ granularity: "month" })).toBe("rides_monthly_by_model");
    expect(await explained({ granularity: "week" })).toBe("rides_daily_by_model");
    expect(await explained({ to: "2013-01-15T00:00:00+05:30" })).toBe("rides_daily_by_model");
    expect(await explained({ to: "2013-01-01T05:00:00+05:30" })).toBe("rides_hourly_by_model");
    expect(await explained({ granularity: "hour" })).toBe("rides_hourly_by_model");
    const byArea = async (time: Record<string, string>) =>
      (await ask({ measures: ["count"], dimensions: ["from_area_id"], time: { ...JANUARY, ...time } }, "?explain=1")).body.rollup;
    expect(await byArea({})).toBe("rides_monthly_by_area");
    expect(await byArea({ granularity: "month" })).toBe("rides_monthly_by_area");
    expect(await byArea({ granularity: "week" })).toBe("rides_daily_by_area");
    expect(await byArea({ to: "2013-01-15T00:00:00+05:30" })).toBe("rides_daily_by_area");
    expect(await byArea({ to: "2013-01-15T01:00:00+05:30" })).toBeUndefined();
  });
});

describe("filter operators", () => {
  const cases: [string, unknown, (r: Record<string, any>) => boolean][] = [
    ["equals", { member: "vehicle_model_id", operator: "equals", values: [12] }, (r) => r.vehicle_model_id === 12],
    ["not_equals", { member: "vehicle_model_id", operator: "not_equals", values: [12] }, (r) => r.vehicle_model_id !== 12],
    ["in", { member: "vehicle_model_id", operator: "in", values: [28, 85] }, (r) => [28, 85].includes(r.vehicle_model_id)],
    ["not_in", { member: "travel_type_id", operator: "not_in", values: [2] }, (r) => r.travel_type_id !== 2],
    ["gt", { member: "from_area_id", operator: "gt", values: [600] }, (r) => r.from_area_id !== null && r.from_area_id > 600],
    ["gte", { member: "from_area_id", operator: "gte", values: [585] }, (r) => r.from_area_id !== null && r.from_area_id >= 585],
    ["lt", { member: "to_area_id", operator: "lt", values: [400] }, (r) => r.to_area_id !== null && r.to_area_id < 400],
    ["lte", { member: "to_area_id", operator: "lte", values: [393] }, (r) => r.to_area_id !== null && r.to_area_id <= 393],
    ["between", { member: "from_area_id", operator: "between", values: [300, 600] }, (r) => r.from_area_id >= 300 && r.from_area_id <= 600 && r.from_area_id !== null],
    ["is_null", { member: "package_id", operator: "is_null" }, (r) => r.package_id === null],
    ["is_not_null", { member: "to_area_id", operator: "is_not_null" }, (r) => r.to_area_id !== null],
    ["boolean equals", { member: "online_booking", operator: "equals", values: [true] }, (r) => r.online_booking],
    [
      "and/or",
      { or: [{ and: [{ member: "travel_type_id", operator: "equals", values: [2] }, { member: "car_cancellation", operator: "equals", values: [true] }] }, { member: "travel_type_id", operator: "equals", values: [3] }] },
      (r) => (r.travel_type_id === 2 && r.car_cancellation) || r.travel_type_id === 3,
    ],
  ];
  for (const [name, filter, predicate] of cases) {
    it(name, async () => {
      const body = await answer({ measures: ["count"], filters: [filter] });
      const expected = rides.filter((r) => inJanuary(r) && predicate(r)).length;
      expect(expected).toBeGreaterThan(0);
      expect(body.rows).toEqual([[expected]]);
    });
  }

  it("answers a range without rides with zero", async () => {
    const body = await answer({ measures: ["count", "cancellation_rate"], time: { from: "2013-06-01T00:00:00", to: "2013-06-02T00:00:00" } });
    expect(body.rows).toEqual([[0, null]]);
  });
});

describe("invalid queries", () => {
  const cases: [string, unknown, RegExp][] = [
    ["no measures", { measures: [], time: JANUARY }, /^measures: must name at least one measure/],
    ["unknown measure", { measures: ["revenue"], time: JANUARY }, /^measures\.0: "revenue" is not a measure; use one of count/],
    ["unknown dimension", { measures: ["count"], dimensions: ["user_id"], time: JANUARY }, /^dimensions\.0: "user_id" is not a dimension/],
    ["duplicate measure", { measures: ["count", "count"], time: JANUARY }, /^measures\.1: count is listed twice/],
    ["no time", { measures: ["count"] }, /^time: /],
    ["unknown time field", { measures: ["count"], time: { ...JANUARY, field: "to_date" } }, /^time\.field: "to_date" is not a time field/],
    ["unknown granularity", { measures: ["count"], time: { ...JANUARY, granularity: "minute" } }, /^time\.granularity: "minute" is not a granularity/],
    ["bad date", { measures: ["count"], time: { ...JANUARY, from: "last week" } }, /^time\.from: "last week" is not an ISO 8601/],
    ["backwards range", { measures: ["count"], time: { ...JANUARY, to: JANUARY.from } }, /^time\.to: must be after time\.from/],
    ["span too long", { measures: ["count"], time: { ...JANUARY, to: "2014-06-01T00:00:00Z" } }, /^time\.to: the range spans more than 400 days/],
    ["bad zone", { measures: ["count"], time: { ...JANUARY, tz: "Mars/Olympus" } }, /^time\.tz: "Mars\/Olympus" is not an IANA time zone/],
    // Node's Intl takes these two (old tzdata links); PostgreSQL does not, and the query ran into a 500.
    ["a zone only Node knows", { measures: ["count"], time: { ...JANUARY, tz: "US/Pacific-New" } }, /^time\.tz: "US\/Pacific-New" is not an IANA time zone/],
    ["another zone only Node knows", { measures: ["count"], time: { ...JANUARY, tz: "Canada/East-Saskatchewan" } }, /^time\.tz: "Canada\/East-Saskatchewan" is not an IANA time zone/],
    ["an impossible date", { measures: ["count"], time: { ...JANUARY, to: "2013-02-30T00:00:00Z" } }, /^time\.to: "2013-02-30T00:00:00Z" is not a real calendar date/],
    ["an offset with 75 minutes", { measures: ["count"], time: { ...JANUARY, from: "2013-01-01T00:00:00+05:75" } }, /^time\.from: .* has an offset with 75 minutes/],
    // PostgreSQL would read it as POSIX, 5:30 behind UTC.
    ["offset as a zone", { measures: ["count"], time: { ...JANUARY, tz: "+05:30" } }, /^time\.tz: "\+05:30" is not an IANA time zone/],
    ["unknown operator", { measures: ["count"], time: JANUARY, filters: [{ member: "package_id", operator: "like", values: [1] }] }, /^filters\.0\.operator: "like" is not an operator/],
    ["unknown filter member", { measures: ["count"], time: JANUARY, filters: [{ member: "fare", operator: "gt", values: [1] }] }, /^filters\.0\.member: "fare" is not a dimension/],
    ["ordering a boolean", { measures: ["count"], time: JANUARY, filters: [{ member: "online_booking", operator: "gt", values: [0] }] }, /^filters\.0\.operator: gt does not apply to online_booking, which is boolean/],
    ["missing value", { measures: ["count"], time: JANUARY, filters: [{ member: "package_id", operator: "equals" }] }, /^filters\.0\.values: equals takes exactly 1 value, not 0/],
    ["values on is_null", { measures: ["count"], time: JANUARY, filters: [{ member: "package_id", operator: "is_null", values: [1] }] }, /^filters\.0\.values: is_null takes exactly 0 values/],
    ["between reversed", { measures: ["count"], time: JANUARY, filters: [{ member: "package_id", operator: "between", values: [5, 1] }] }, /low ≤ high/],
    ["wrong value type", { measures: ["count"], time: JANUARY, filters: [{ member: "online_booking", operator: "equals", values: [1] }] }, /^filters\.0\.values\.0: 1 is not a boolean \(online_booking\)/],
    ["integer out of range", { measures: ["count"], time: JANUARY, filters: [{ member: "package_id", operator: "equals", values: [2 ** 40] }] }, /is not a 32-bit integer/],
    ["nested bad operator", { measures: ["count"], time: JANUARY, filters: [{ or: [{ and: [{ member: "package_id", operator: "near", values: [1] }] }] }] }, /^filters\.0\.or\.0\.and\.0\.operator: "near" is not an operator/],
    ["empty or", { measures: ["count"], time: JANUARY, filters: [{ or: [] }] }, /^filters\.0\.or: must hold at least one filter/],
    ["too deep", { measures: ["count"], time: JANUARY, filters: [{ and: [{ and: [{ and: [{ and: [{ and: [{ and: [{ member: "package_id", operator: "is_null" }] }] }] }] }] }] }] }, /^filters: and\/or may nest at most 5 levels/],
    ["order by a member not asked for", { measures: ["count"], time: JANUARY, order: [{ member: "cancellations" }] }, /^order\.0\.member: "cancellations" is not in this query/],
    ["bad direction", { measures: ["count"], time: JANUARY, order: [{ member: "count", direction: "up" }] }, /^order\.0\.direction: "up" is not a direction/],
    ["limit over the cap", { measures: ["count"], time: JANUARY, limit: 501 }, /^limit: must be at most 500/],
    ["fill_gaps without granularity", { measures: ["count"], time: JANUARY, fill_gaps: true }, /^fill_gaps: needs time\.granularity/],
    ["unknown field", { measures: ["count"], time: JANUARY, having: "x" }, /^having: is not a known field/],
    ["not an object", [1, 2], /^query: must be a JSON object/],
  ];
  for (const [name, query, detail] of cases) {
    it(`${name} → 400 naming it`, async () => {
      const { status, headers, body } = await ask(query);
      expect(status).toBe(400);
      expect(headers.get("content-type")).toBe("application/problem+json");
      expect(body.detail).toMatch(detail);
    });
  }

  it("rejects a body that is not JSON, or not sent as JSON", async () => {
    expect((await post(sample.service.url, "{measures", "application/json", "/v1/query")).status).toBe(400);
    expect((await post(sample.service.url, "{}", "text/plain", "/v1/query")).status).toBe(415);
    // Content-Type sent twice arrives joined; "application/json\b" took it.
    expect((await post(sample.service.url, "{}", "application/json, text/plain", "/v1/query")).body.detail).toMatch(/^header Content-Type: .* is not one media type/);
    expect((await ask({ measures: ["count"], time: JANUARY }, "?explain=yes")).body.detail).toMatch(/^query parameter explain/);
  });
});

function haversine(r: Record<string, any>): number {
  const rad = (d: number) => (d * Math.PI) / 180;
  const a = Math.sin(rad(r.to_lat - r.from_lat) / 2) ** 2 + Math.cos(rad(r.from_lat)) * Math.cos(rad(r.to_lat)) * Math.sin(rad(r.to_long - r.from_long) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)));
}
