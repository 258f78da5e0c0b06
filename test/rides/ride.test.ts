import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRides } from "../../src/rides/index.ts";
import { parseTime } from "../../src/rides/time.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride } from "../support/service.ts";

// The validator takes the travel types of a migrated database, as the service does at start.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ travelTypes: true });
});
afterAll(() => db?.drop());

const read = (body: unknown, zone = "Asia/Kolkata") => readRides(JSON.stringify(body), "application/json", zone, 10_000);

describe("times", () => {
  it("reads a time without an offset in the given zone", () => {
    expect(parseTime("2013-01-01T02:00", "Asia/Kolkata")).toEqual({ ok: true, instant: Date.parse("2012-12-31T20:30:00Z") });
    expect(parseTime("2013-07-01 12:00:00", "Europe/Berlin")).toEqual({ ok: true, instant: Date.parse("2013-07-01T10:00:00Z") });
    expect(parseTime("2013-01-01T12:00", "Europe/Berlin")).toEqual({ ok: true, instant: Date.parse("2013-01-01T11:00:00Z") });
  });

  it("keeps an explicit offset", () => {
    expect(parseTime("2013-01-01T02:00:00Z", "Asia/Kolkata")).toEqual({ ok: true, instant: Date.parse("2013-01-01T02:00:00Z") });
    expect(parseTime("2013-01-01T02:00:00.250-03:00", "Asia/Kolkata")).toEqual({
      ok: true,
      instant: Date.parse("2013-01-01T05:00:00.250Z"),
    });
  });

  it("takes the earlier instant of a wall time a DST change repeats", () => {
    // 2013-10-27 02:30 happens twice in Berlin: first at +02:00.
    expect(parseTime("2013-10-27T02:30", "Europe/Berlin")).toEqual({ ok: true, instant: Date.parse("2013-10-27T00:30:00Z") });
  });

  it("refuses impossible dates and junk", () => {
    expect(parseTime("2013-02-30T01:00", "UTC").ok).toBe(false);
    expect(parseTime("2013-01-01T24:00", "UTC").ok).toBe(false);
    expect(parseTime("yesterday", "UTC").ok).toBe(false);
    expect(parseTime("2013-01-01", "UTC").ok).toBe(false);
  });
});

describe("ride validation", () => {
  it("normalises a valid ride: UTC times, booleans from 0/1, omitted nullable fields as null", () => {
    const { accepted, rejected } = read({ ...ride({ online_booking: 1, to_lat: undefined }), from_date: "2013-01-01T02:00" });
    expect(rejected).toEqual([]);
    expect(accepted[0]).toMatchObject({
      from_date: "2012-12-31T20:30:00.000Z",
      booking_created: "2012-12-31T20:09:00.000Z",
      online_booking: true,
      to_lat: null,
    });
  });

  it("names every bad field with its reason", () => {
    const { accepted, rejected } = read([
      ride({ id: 1 }),
      ride({ id: 2, from_lat: 91, user_id: "x", surprise: true, travel_type_id: undefined }),
    ]);
    expect(accepted.map((r) => r.id)).toEqual([1]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0].index).toBe(1);
    expect(rejected[0].id).toBe(2);
    const byPath = Object.fromEntries(rejected[0].errors.map((e) => [e.path, e.message]));
    expect(byPath.from_lat).toMatch(/between -90 and 90/);
    expect(byPath.user_id).toMatch(/must be a number/);
    expect(byPath.surprise).toMatch(/not a ride field/);
    expect(byPath.travel_type_id).toBe("is required");
  });

  it("refuses nulls where the producer never sends them, and far past or future times", () => {
    const { rejected } = read([
      ride({ user_id: null }),
      ride({ from_date: "1999-12-31T23:00:00Z" }),
      ride({ booking_created: "2999-01-01T00:00:00Z" }),
      ride({ car_cancellation: 2 }),
      ride({ id: 1.5 }),
    ]);
    expect(rejected.map((r) => r.errors[0].path)).toEqual(["user_id", "from_date", "booking_created", "car_cancellation", "id"]);
    expect(rejected[0].errors[0].message).toBe("must not be null");
  });

  it("rejects an item that is not an object", () => {
    const { rejected } = read([ride(), 5, "x", null]);
    expect(rejected.map((r) => r.index)).toEqual([1, 2, 3]);
    expect(rejected[0].errors[0].message).toMatch(/JSON object/);
  });
});
