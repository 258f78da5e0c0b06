import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ALWAYS_NULL } from "../../bench/generate/rides.ts";
import { pendingRollupChanges } from "../../src/observability/database-stats.ts";
import { compileQuery } from "../../src/query/compile.ts";
import { parseQuery } from "../../src/query/dsl.ts";
import { runQuery } from "../../src/query/run.ts";
import { chooseRollup } from "../../src/query/source.ts";
import { ROLLUPS } from "../../src/rollup/rollups.ts";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { holdFolder } from "../support/locks.ts";
import { waitUntilFolded } from "../support/rollups.ts";
import { post, ride, startTestService, waitForJob } from "../support/service.ts";

const ZONE = "Asia/Kolkata";
const LIMITS = { maxSpanDays: 400, maxRows: 100_000, defaultZone: ZONE };
const SEED = Number(process.env.PROPERTY_SEED ?? 20130101);

let db: TestDatabase;
let service: Service;
let releaseFolder: (() => Promise<void>) | undefined;

/** Small domains, so groups collide, values repeat and filters match. */
const DOMAINS = {
  travel_type_id: [1, 2, 3],
  vehicle_model_id: [12, 24, 28, 85],
  package_id: [null, 1, 2],
  from_area_id: [null, 83, 393, 585, 1010],
  to_area_id: [null, 448, 540],
  from_city_id: [null, 15],
  online_booking: [false, true],
  mobile_site_booking: [false, true],
  car_cancellation: [false, true],
} as const;
type Member = keyof typeof DOMAINS;

const JAN_1 = Date.parse("2013-01-01T00:00:00+05:30");
const DAYS = 90;

const rideArb = (id: number) =>
  fc.record({
    ...(Object.fromEntries(Object.entries(DOMAINS).map(([k, values]) => [k, fc.constantFrom(...values)])) as {
      [K in Member]: fc.Arbitrary<(typeof DOMAINS)[K][number]>;
    }),
    minute: fc.integer({ min: 0, max: DAYS * 24 * 60 - 1 }),
    lead: fc.integer({ min: 0, max: 3 * 24 * 60 }),
    coords: fc.option(fc.tuple(fc.double({ min: 12.8, max: 13.1, noNaN: true }), fc.double({ min: 77.4, max: 77.8, noNaN: true })), { freq: 4 }),
    user: fc.integer({ min: 1, max: 40 }),
  }).map((r) => {
    const from = JAN_1 + r.minute * 60_000;
    const { minute, lead, coords, user, ...dims } = r;
    const generated = ride({
      ...dims,
      id,
      user_id: user,
      from_date: new Date(from).toISOString(),
      booking_created: new Date(from - lead * 60_000).toISOString(),
      to_lat: coords?.[0] ?? null,
      to_long: coords?.[1] ?? null,
    });
    // Only what a ride of its type can hold: the intake rejects the rest (travel_types.always_null).
    for (const field of ALWAYS_NULL[r.travel_type_id]) generated[field] = null;
    return generated;
  });

async function send(rides: Record<string, unknown>[]) {
  const { status, body } = await post(service.url, JSON.stringify(rides), "application/json");
  expect(status).toBe(202);
  return body.job_id as number;
}

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url);
  // Every change stays in rollup_log until the tests below let the folder run.
  releaseFolder = await holdFolder(db.url);
  // A random history in a few requests, then resends: flipped cancellations, rides moved
  // to another month, other fields changed, and the same ride twice in one request.
  const rides = Array.from({ length: 400 }, (_, i) => fc.sample(rideArb(500_000 + i), { seed: SEED + i, numRuns: 1 })[0]);
  const jobs: number[] = [];
  for (let i = 0; i < rides.length; i += 100) jobs.push(await send(rides.slice(i, i + 100)));
  const flipped = rides.filter((_, i) => i % 3 === 0).map((r) => ({ ...r, car_cancellation: !r.car_cancellation }));
  const moved = rides
    .filter((_, i) => i % 5 === 1)
    .map((r) => {
      const shift = 35 * 86_400_000 * (Date.parse(r.from_date as string) < JAN_1 + 45 * 86_400_000 ? 1 : -1);
      return { ...r, from_date: new Date(Date.parse(r.from_date as string) + shift).toISOString(), booking_created: new Date(Date.parse(r.booking_created as string) + shift).toISOString() };
    });
  const changed = fc.sample(fc.tuple(...rides.filter((_, i) => i % 7 === 2).map((r) => rideArb(r.id as number))), { seed: SEED, numRuns: 1 })[0];
  jobs.push(await send(flipped), await send([...moved, ...moved.slice(0, 10).map((r) => ({ ...r, car_cancellation: true }))]), await send(changed));
  for (const job of jobs) expect((await waitForJob(service.url, job)).status).toBe("done");
});
afterAll(async () => {
  await releaseFolder?.();
  await service?.stop();
  await db?.drop();
});

const MONTHS = [-1, 0, 1, 2, 3, 4].map((m) => new Date(Date.UTC(2013, m, 1) - 5.5 * 3_600_000).toISOString());

/** A DSL query whose members one rollup holds and whose range and buckets sit on its hours, days or months. */
const queryArb = fc.constantFrom(...ROLLUPS).chain((rollup) => {
  const dims = rollup.dimensions as Member[];
  const leaf = fc.constantFrom(...dims).chain((member) => {
    const values = DOMAINS[member].filter((x) => x !== null);
    const value = fc.constantFrom(...values);
    const integer = typeof values[0] === "number";
    const ops = fc.oneof(
      fc.record({ member: fc.constant(member), operator: fc.constantFrom("equals", "not_equals"), values: fc.tuple(value) }),
      fc.record({ member: fc.constant(member), operator: fc.constantFrom("in", "not_in"), values: fc.uniqueArray(value, { minLength: 1, maxLength: 3 }) }),
      fc.record({ member: fc.constant(member), operator: fc.constantFrom("is_null", "is_not_null") }),
      ...(integer
        ? [
            fc.record({ member: fc.constant(member), operator: fc.constantFrom("gt", "gte", "lt", "lte"), values: fc.tuple(value) }),
            fc.tuple(value, value).map(([a, b]) => ({ member, operator: "between", values: [Math.min(a as number, b as number), Math.max(a as number, b as number)] })),
          ]
        : []),
    );
    return ops;
  });
  const filter = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: "small", maxDepth: 4, withCrossShrink: true }, leaf, fc.record({ and: fc.array(tie("node"), { minLength: 1, maxLength: 3 }) }), fc.record({ or: fc.array(tie("node"), { minLength: 1, maxLength: 3 }) })),
  })).node;
  return fc
    .record({
      measures: fc.uniqueArray(fc.constantFrom("count", "cancellations", "cancellation_rate", "online_share", "mobile_share", "avg_lead_minutes", "avg_trip_km"), { minLength: 1, maxLength: 4 }),
      dimensions: fc.uniqueArray(fc.constantFrom(...dims), { maxLength: 3 }),
      start: fc.integer({ min: -1, max: DAYS }).map((n) => (rollup.grain === "hour" ? n * 24 + (n % 24) : n * 24)),
      hours: fc.integer({ min: 1, max: DAYS + 2 }).map((n) => (rollup.grain === "hour" ? n * 24 - (n % 23) : n * 24)),
      months: fc.integer({ min: 0, max: MONTHS.length - 2 }).chain((first) => fc.tuple(fc.constant(first), fc.integer({ min: first + 1, max: MONTHS.length - 1 }))),
      granularity: fc.option(fc.constantFrom(...{ hour: ["hour", "day", "week", "month"], day: ["day", "week", "month"], month: ["month"] }[rollup.grain]), { nil: undefined }),
      tz: fc.constantFrom("Asia/Kolkata", "Asia/Colombo"),
      filters: fc.array(filter, { maxLength: 2 }),
      desc: fc.boolean(),
      limit: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
      fill: fc.boolean(),
    })
    .map((q) => ({
      measures: q.measures,
      dimensions: q.dimensions,
      time: {
        from: rollup.grain === "month" ? MONTHS[q.months[0]] : new Date(JAN_1 + q.start * 3_600_000).toISOString(),
        to: rollup.grain === "month" ? MONTHS[q.months[1]] : new Date(JAN_1 + (q.start + q.hours) * 3_600_000).toISOString(),
        tz: q.tz,
        ...(q.granularity ? { granularity: q.granularity } : {}),
      },
      filters: q.filters,
      order: [{ member: q.measures[0], direction: q.desc ? "desc" : "asc" }],
      ...(q.limit ? { limit: q.limit } : {}),
      fill_gaps: q.fill && q.granularity !== undefined && q.hours <= 24 * 14,
    }));
});

/** Runs random queries on a rollup (with whatever rollup_log holds) and on rides, and requires identical answers. */
async function compareRandomQueries(numRuns: number) {
  let rowsCompared = 0;
  const rollupsUsed = new Set<string>();
  await fc.assert(
    fc.asyncProperty(queryArb, async (input) => {
      const query = parseQuery(input, LIMITS);
      const rollup = chooseRollup(query, ZONE);
      expect(rollup, "the generated query should fit a rollup").toBeDefined();
      rollupsUsed.add(rollup!.table);
      const fromRollup = await runQuery(db.pool, compileQuery(query, rollup), query.time.tz, 10_000);
      const fromRides = await runQuery(db.pool, compileQuery(query, undefined), query.time.tz, 10_000);
      expect(fromRollup).toEqual(fromRides);
      rowsCompared += fromRides.length;
    }),
    { seed: SEED, numRuns },
  );
  // Not vacuous: the queries found rides.
  expect(rowsCompared).toBeGreaterThan(numRuns);
  expect([...rollupsUsed].sort()).toEqual(ROLLUPS.map((r) => r.table).sort());
}

const pendingChanges = () => pendingRollupChanges(db.pool);
const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

it("answers every random query identically from its rollup and from rides while the changes wait in rollup_log", async () => {
  const pending = await pendingChanges();
  expect(pending).toBeGreaterThan(400);
  await compareRandomQueries(RUNS);
  expect(await pendingChanges()).toBe(pending);
}, 120_000);

it("folds the log into the rollups and answers the same after", async () => {
  await releaseFolder!();
  releaseFolder = undefined;
  await waitUntilFolded(db.pool, 10_000);
  await compareRandomQueries(RUNS / 3);
}, 120_000);

it("keeps every folded rollup row equal to its rides, bucket by bucket, after the resends", async () => {
  expect(await pendingChanges()).toBe(0);
  for (const rollup of ROLLUPS) {
    const query = parseQuery(
      { measures: ["count", "cancellations", "online_share", "avg_lead_minutes", "avg_trip_km"], dimensions: rollup.dimensions, time: { from: "2012-12-01T00:00:00+05:30", to: "2013-05-01T00:00:00+05:30", granularity: rollup.grain } },
      LIMITS,
    );
    expect(chooseRollup(query, ZONE)?.grain).toBe(rollup.grain);
    const fromRides = await runQuery(db.pool, compileQuery(query, undefined), ZONE, 10_000);
    expect(await runQuery(db.pool, compileQuery(query, { ...rollup, zone: ZONE }), ZONE, 10_000)).toEqual(fromRides);
    const total = fromRides.reduce((sum, row) => sum + (row[rollup.dimensions.length + 1] as number), 0);
    expect(total).toBe((await db.pool.query("SELECT count(*)::int AS n FROM rides")).rows[0].n);
  }
});
