import fc from "fast-check";
import * as v from "valibot";
import { beforeAll, expect, it } from "vitest";
import { checkRide, plainRide, RIDE_FIELDS, rideSchema } from "../../src/rides/ride.ts";
import { ride } from "../support/service.ts";

const ZONES = ["Asia/Kolkata", "America/New_York", "UTC"];

// Values a sender may put in any field: every kind the schema tells apart, and its edges.
const EDGES: unknown[] = [
  null, true, false, 0, 1, -1, -0, 2, 0.5, 1e-7, 89.99, 90, 90.0001, -90, 180, -180.5, 2_147_483_647, 2_147_483_648,
  Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, Number.NaN, Number.POSITIVE_INFINITY, "1", "", "true", [], {}, [1],
  "2013-01-01T02:00", "2013-01-01 02:00:00", "2013-01-01T02:00:00+05:30", "2013-01-01T02:00:00.123Z", "2013-01-01T02:00:00.1234Z",
  "2013-01-01T02:00:00.1230Z", "2013-02-30T02:00", "2013-01-01T24:00", "2013-03-10T02:30", "2013-11-03T01:30", "1999-12-31T23:59:59Z",
  "2000-01-01T00:00:00Z", "2999-01-01T00:00Z", "2013-01-01T02:00+18:01", "2013-01-01T02:00-0430", "2013-01-01t02:00z", "1/1/2013 2:00",
];
const edge = fc.constantFrom(...EDGES);
const fieldValue = fc.oneof(
  { weight: 10, arbitrary: fc.constant("keep") },
  { weight: 1, arbitrary: fc.constant("drop") },
  { weight: 2, arbitrary: edge.map((value) => ({ value })) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.boolean()).map((value) => ({ value })) },
);

/** A valid ride, then each field kept, dropped or replaced, sometimes with a key that is not a ride's. */
const mutatedRide = fc
  .record({
    id: fc.integer({ min: 1, max: 2 ** 40 }),
    from: fc.date({ min: new Date("2001-01-01T00:00:00Z"), max: new Date("2025-12-31T00:00:00Z"), noInvalidDate: true }),
    leadMinutes: fc.integer({ min: 0, max: 10_000 }),
    offsetless: fc.boolean(),
    changes: fc.array(fc.tuple(fc.constantFrom(...RIDE_FIELDS), fieldValue), { maxLength: 4 }),
    extra: fc.option(fc.constantFrom("ID", "note", "__proto__", "constructor", "toString")),
  })
  .map(({ id, from, leadMinutes, offsetless, changes, extra }) => {
    const iso = (d: Date) => (offsetless ? d.toISOString().slice(0, 16) : d.toISOString());
    const input: Record<string, unknown> = ride({ id, from_date: iso(from), booking_created: iso(new Date(from.getTime() - leadMinutes * 60_000)) });
    for (const [field, change] of changes) {
      if (change === "drop") delete input[field];
      else if (change !== "keep") input[field] = change.value;
    }
    if (extra) Object.defineProperty(input, extra, { value: 1, enumerable: true, configurable: true, writable: true });
    return input;
  });

let taken = 0;
let runs = 0;
beforeAll(() => {
  taken = 0;
  runs = 0;
});

it("takes through the fast path only rides the schema takes, with the schema's exact output, and answers every ride as the schema alone does", () => {
  fc.assert(
    fc.property(mutatedRide, fc.constantFrom(...ZONES), (input, zone) => {
      runs++;
      const plain = plainRide(input, zone);
      if (plain) {
        taken++;
        const parsed = v.safeParse(rideSchema(zone), input);
        expect(parsed.success).toBe(true);
        // The same values and the same key order: the staged JSON text is the same.
        expect(JSON.stringify(plain)).toBe(JSON.stringify(parsed.output));
        expect(plain).toStrictEqual(parsed.output);
      }
      expect(checkRide(input, zone)).toStrictEqual(checkRide(input, zone, { fastPath: false }));
    }),
    { numRuns: 20_000 },
  );
  // Both sides of the property must be exercised for it to say anything.
  expect(taken).toBeGreaterThan(runs / 10);
  expect(taken).toBeLessThan(runs * 0.9);
});

it("takes the producer's rides, as every format reads them, through the fast path", () => {
  expect(plainRide(ride(), "Asia/Kolkata")).toBeDefined();
  expect(plainRide({ ...ride(), package_id: undefined, online_booking: 1, from_date: "2013-01-01T02:00" }, "Asia/Kolkata")).toBeDefined();
});
