import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ALWAYS_NULL,
  generateRides,
  MEDIA_TYPE,
  NEVER_NULL,
  renderBody,
  SOMETIMES_NULL,
  TYPE_ROWS,
} from "../../bench/generate/rides.ts";
import { readRides, RIDE_FIELDS, travelTypes } from "../../src/rides/index.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { SAMPLE_CSV } from "../support/service.ts";

// The intake validates against the travel_types of a migrated database.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ travelTypes: true });
});
afterAll(() => db?.drop());

/** The producer's CSV as rows of column → cell, header lower-cased like the intake reads it. */
function csvRows(text: string): Record<string, string>[] {
  const [header, ...lines] = text.trim().split("\n");
  const columns = header.trim().split(",").map((name) => name.toLowerCase());
  return lines.map((line) => Object.fromEntries(line.trim().split(",").map((cell, i) => [columns[i], cell])));
}

/** Every way a row can break the NULL rules of its travel type, as readable strings. */
function nullRuleBreaks(rows: Record<string, string>[]): string[] {
  const breaks: string[] = [];
  for (const row of rows) {
    const type = Number(row.travel_type_id);
    const always = ALWAYS_NULL[type];
    const sometimes = SOMETIMES_NULL[type];
    if (!always || !sometimes) {
      breaks.push(`ride ${row.id}: unknown travel_type_id ${row.travel_type_id}`);
      continue;
    }
    for (const field of RIDE_FIELDS) {
      const isNull = row[field] === "NULL";
      if (always.includes(field) && !isNull) breaks.push(`ride ${row.id} (type ${type}): ${field} should be NULL`);
      if (!always.includes(field) && !sometimes.includes(field) && isNull) {
        breaks.push(`ride ${row.id} (type ${type}): ${field} should not be NULL`);
      }
    }
  }
  return breaks;
}

const nullShare = (rows: Record<string, string>[], field: string) => rows.filter((row) => row[field] === "NULL").length / rows.length;

describe("the bench's ride generator", () => {
  const rides = generateRides({ seed: 42, count: 40_000 });
  const rows = csvRows(renderBody(rides, "csv"));

  it("encodes NULL rules that the real sample obeys", () => {
    const sample = csvRows(SAMPLE_CSV);
    expect(sample).toHaveLength(200);
    expect(nullRuleBreaks(sample)).toEqual([]);
    for (const field of NEVER_NULL) expect(sample.every((row) => row[field] !== "NULL")).toBe(true);
  });

  it("follows the same NULL rules per travel type", () => {
    expect(nullRuleBreaks(rows)).toEqual([]);
  });

  it("has the full data set's travel-type mix and NULL rates", () => {
    const total = TYPE_ROWS[1] + TYPE_ROWS[2] + TYPE_ROWS[3];
    for (const [type, count] of Object.entries(TYPE_ROWS)) {
      const share = rows.filter((row) => row.travel_type_id === type).length / rows.length;
      expect(share).toBeCloseTo(count / total, 2);
    }
    const ofType = (type: string) => rows.filter((row) => row.travel_type_id === type);
    expect(nullShare(ofType("2"), "from_city_id")).toBeCloseTo(19_788 / TYPE_ROWS[2], 1);
    expect(nullShare(ofType("2"), "to_date")).toBeCloseTo(15_185 / TYPE_ROWS[2], 1);
    expect(nullShare(ofType("3"), "from_city_id")).toBeCloseTo(7_102 / TYPE_ROWS[3], 1);
    expect(nullShare(ofType("3"), "to_date")).toBeCloseTo(2_620 / TYPE_ROWS[3], 1);
    expect(nullShare(ofType("1"), "to_area_id")).toBeCloseTo(1_588 / TYPE_ROWS[1], 1);
  });

  it("writes the producer's CSV format: its header, NULL, 0/1 flags, M/D/YYYY H:MM times", () => {
    const body = renderBody(rides.slice(0, 50), "csv");
    expect(body.split("\n")[0]).toBe(SAMPLE_CSV.split("\n")[0].trim());
    for (const row of csvRows(body)) {
      expect(row.from_date).toMatch(/^\d{1,2}\/\d{1,2}\/\d{4} \d{1,2}:\d{2}$/);
      expect(row.car_cancellation).toMatch(/^[01]$/);
    }
  });

  it("gives the same rides for the same seed and others for another seed", () => {
    const body = (seed: number) => renderBody(generateRides({ seed, count: 1_000 }), "json");
    expect(body(42) === body(42)).toBe(true);
    expect(body(42) === body(43)).toBe(false);
  });

  it("knows the always-NULL fields the travel_types table holds", () => {
    expect(Object.fromEntries([...travelTypes().values()].map((type) => [type.id, type.alwaysNull]))).toEqual(ALWAYS_NULL);
  });

  it("produces bodies the service accepts in full, in every format", () => {
    const batch = rides.slice(0, 1_000);
    for (const format of ["json", "ndjson", "csv"] as const) {
      const read = readRides(renderBody(batch, format), MEDIA_TYPE[format], "Asia/Kolkata", 10_000);
      expect(read.rejected).toEqual([]);
      expect(read.accepted.map((ride) => ride.id)).toEqual(batch.map((ride) => ride.id));
    }
  });
});
