import { describe, expect, it } from "vitest";
import { Problem } from "../../src/http/problem.ts";
import { runQuery } from "../../src/query/run.ts";
import { post } from "../support/service.ts";
import { withSampleRides } from "./sample-service.ts";

const sample = withSampleRides();

const ATTACKS = [
  "count; DROP TABLE rides; --",
  `count" FROM rides; DROP TABLE rides; --`,
  "' OR 1=1 --",
  "travel_type_id) FROM rides; SELECT pg_sleep(5); --",
  "1; TRUNCATE rides_hourly",
  "$1",
  "UTC'); DROP TABLE jobs; --",
];

const time = { from: "2013-01-01T00:00:00", to: "2013-02-01T00:00:00", tz: "Asia/Kolkata" };
const base = { measures: ["count"], time };
const leaf = { member: "vehicle_model_id", operator: "equals", values: [12] };

/** Every place a string can go in the DSL, with the attack put there. */
const PLACES: [string, (attack: string) => unknown][] = [
  ["measures", (a) => ({ ...base, measures: [a] })],
  ["dimensions", (a) => ({ ...base, dimensions: [a] })],
  ["time.field", (a) => ({ ...base, time: { ...time, field: a } })],
  ["time.granularity", (a) => ({ ...base, time: { ...time, granularity: a } })],
  ["time.from", (a) => ({ ...base, time: { ...time, from: a } })],
  ["time.to", (a) => ({ ...base, time: { ...time, to: `2013-02-01T00:00:00${a}` } })],
  ["time.tz", (a) => ({ ...base, time: { ...time, tz: a } })],
  ["time key", (a) => ({ ...base, time: { ...time, [a]: 1 } })],
  ["filter member", (a) => ({ ...base, filters: [{ ...leaf, member: a }] })],
  ["filter operator", (a) => ({ ...base, filters: [{ ...leaf, operator: a }] })],
  ["filter value", (a) => ({ ...base, filters: [{ ...leaf, values: [a] }] })],
  ["filter in-list", (a) => ({ ...base, filters: [{ ...leaf, operator: "in", values: [12, a] }] })],
  ["filter key", (a) => ({ ...base, filters: [{ ...leaf, [a]: "x" }] })],
  ["nested filter", (a) => ({ ...base, filters: [{ or: [leaf, { and: [{ ...leaf, member: a }] }] }] })],
  ["and/or key", (a) => ({ ...base, filters: [{ [a]: [leaf] }] })],
  ["order member", (a) => ({ ...base, order: [{ member: a }] })],
  ["order direction", (a) => ({ ...base, order: [{ member: "count", direction: a }] })],
  ["limit", (a) => ({ ...base, limit: a })],
  ["fill_gaps", (a) => ({ ...base, time: { ...time, granularity: "day" }, fill_gaps: a })],
  ["top-level key", (a) => ({ ...base, [a]: true })],
];

async function state() {
  const { rows } = await sample.db.pool.query(
    `SELECT (SELECT count(*)::int FROM rides) AS rides, (SELECT sum(rides)::int FROM rides_hourly) AS rolled,
            (SELECT count(*)::int FROM jobs) AS jobs`,
  );
  return rows[0];
}

describe("injection attempts through every field of the DSL", () => {
  for (const [place, build] of PLACES) {
    it(`${place}: 400, nothing run`, async () => {
      const before = await state();
      for (const attack of ATTACKS) {
        const { status, body } = await post(sample.service.url, JSON.stringify(build(attack)), "application/json", "/v1/query");
        expect(status, `${place} ← ${attack}`).toBe(400);
        expect(body.detail).not.toMatch(/syntax error|relation|SQL/i);
      }
      expect(await state()).toEqual(before);
      expect(before.rides).toBe(200);
    });
  }

  it("the explain query param is checked too", async () => {
    const { status } = await post(sample.service.url, JSON.stringify(base), "application/json", `/v1/query?explain=${encodeURIComponent(ATTACKS[0])}`);
    expect(status).toBe(400);
  });

  it("values reach PostgreSQL as parameters, never as SQL text", async () => {
    const { body } = await post(
      sample.service.url,
      JSON.stringify({ ...base, dimensions: ["vehicle_model_id"], filters: [{ member: "vehicle_model_id", operator: "in", values: [12, 28] }] }),
      "application/json",
      "/v1/query?explain=1",
    );
    expect(body.sql).toMatch(/vehicle_model_id = ANY\(\$\d+::int\[\]\)/);
    expect(body.sql).not.toMatch(/\b(12|28)\b|Asia\/Kolkata|2013/);
    expect(body.params).toContainEqual([12, 28]);
  });
});

describe("statement timeout", () => {
  it("stops a query that runs too long with a 503 and frees the connection", async () => {
    const slow = { sql: "SELECT pg_sleep(2)", params: [], columns: [] };
    const started = Date.now();
    const error = await runQuery(sample.db.pool, slow, "UTC", 200).catch((e) => e);
    expect(error).toBeInstanceOf(Problem);
    expect(error.status).toBe(503);
    expect(error.detail).toMatch(/ran longer than the 200 ms allowed/);
    expect(Date.now() - started).toBeLessThan(1500);
    // The timeout was local to the query's transaction.
    const { rows } = await sample.db.pool.query("SHOW statement_timeout");
    expect(rows[0].statement_timeout).toBe("0");
  });
});
