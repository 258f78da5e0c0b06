import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCsv } from "../../src/rides/formats/csv.ts";
import { lostValue } from "../../src/rides/formats/json-text.ts";
import { parseJson } from "../../src/rides/formats/json.ts";
import { parseNdjson } from "../../src/rides/formats/ndjson.ts";
import { readRides, rideReport, UnreadableBody } from "../../src/rides/index.ts";
import { parseTime } from "../../src/rides/time.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride, SAMPLE_CSV } from "../support/service.ts";

// Each reader held against its format's RFC and the README's words; each case is one decision.
const [header, first, second] = SAMPLE_CSV.split("\n");
const one = (overrides: Record<string, unknown> = {}) => JSON.stringify(ride(overrides));
const ids = (candidates: { input?: unknown }[]) => candidates.map((c) => (c.input as { id?: number } | undefined)?.id ?? null);
const errorsOf = (candidates: { errors?: { path: string; message: string }[] }[]) => candidates.map((c) => c.errors ?? []);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ travelTypes: true });
});
afterAll(() => db?.drop());

describe("CSV (RFC 4180, one record per line)", () => {
  it("ends lines in LF or CRLF, mixed too; blank lines are skipped", () => {
    expect(ids(parseCsv(`${header}\r\n${first}\n\n${second}\r\n`))).toEqual([132512, 132513]);
  });

  it("refuses a lone CR (old Mac line ends), which csv-parse took as a line end", () => {
    expect(() => parseCsv(`${header}\r${first}\r`)).toThrow(new UnreadableBody("CSV line 1 holds a carriage return that does not end a line; lines end in LF or CRLF"));
    expect(() => parseCsv(`${header}\n${first}\r${second}\n`)).toThrow(/^CSV line 2 holds a carriage return/);
  });

  it("reads quoted fields with doubled quotes and commas inside", () => {
    const cells = first.split(",");
    cells[0] = '"132512"';
    const [candidate] = parseCsv(`${header}\n${cells.join(",")}\n`);
    expect(candidate).toMatchObject({ input: expect.objectContaining({ id: 132512 }) });
    const [odd] = parseCsv(`${header}\n${first.replace("1/1/2013 2:00", '"a ""b"", c"')}\n`);
    expect((odd.input as Record<string, unknown>).from_date).toBe('a "b", c');
  });

  it("makes every line its own ride: a quote opened on one line and closed on the next spoils both, each alone", () => {
    const candidates = parseCsv(`${header}\n${first.replace(/,0$/, ',"0')}\n${second.replace(/,0$/, ',0"')}\n`);
    expect(candidates.map((c) => "id" in c && c.id)).toEqual([132512, 132513]);
    expect(errorsOf(candidates)).toEqual([
      [{ path: "", message: "line 2: a quoted field is not closed on its line (a ride's fields never hold a line break)" }],
      [{ path: "", message: "line 3: field 19 holds a quote but is not quoted (quote the field and double the quote)" }],
    ]);
    expect(errorsOf(parseCsv(`${header}\n${first.replace(/^132512/, '"132512"x')}\n`))[0][0].message).toBe("line 2: field 1 has text after its closing quote");
  });

  it("counts the 4096-byte line limit in UTF-8 bytes, without the line end", () => {
    const padded = (bytes: number, end: string) => `${header}\n${"é".repeat(bytes / 2)}${end}`;
    expect(parseCsv(padded(4096, "\r\n"))).toHaveLength(1);
    // 2,049 characters, 4,098 bytes: counted in characters it passed.
    expect(() => parseCsv(padded(4098, "\n"))).toThrow(new UnreadableBody("CSV line 2 is longer than 4096 bytes; a ride's line is far shorter"));
  });

  it("refuses a number that would lose its value, as JSON does", () => {
    const [candidate] = parseCsv(`${header}\n${first.replace(/,0$/, ",0.99999999999999999")}\n`);
    expect(candidate.errors).toEqual([{ path: "car_cancellation", message: "0.99999999999999999 would be read as 1" }]);
  });
});

describe("NDJSON (one JSON text per line)", () => {
  it("takes LF and CRLF line ends and skips blank lines", () => {
    expect(ids(parseNdjson(`${one({ id: 1 })}\r\n\r\n${one({ id: 2 })}\n   \n`))).toEqual([1, 2]);
  });

  it("makes two rides run together on one line two rejected rides, not one", () => {
    const together = parseNdjson(`${one({ id: 1 })}${one({ id: 2 })}\n`);
    expect(ids(together)).toEqual([1, 2]);
    expect(errorsOf(together)[1]).toEqual([{ path: "", message: "line 1 holds 2 JSON values; NDJSON takes one ride per line, ended by LF or CRLF" }]);
    // A lone CR does not end a line either.
    expect(ids(parseNdjson(`${one({ id: 1 })}\r${one({ id: 2 })}\r${one({ id: 3 })}\r`))).toEqual([1, 2, 3]);
  });
});

describe("JSON (RFC 8259)", () => {
  it("refuses a key sent twice, which JSON.parse would settle silently by keeping the last", () => {
    const body = `[${one({ id: 1 })},${one({ id: 2 }).replace("{", '{"id":7,')}]`;
    expect(errorsOf(parseJson(body))).toEqual([[], [{ path: "id", message: "appears more than once in the ride; send each field once" }]]);
    // An escaped spelling is the same key.
    expect(errorsOf(parseJson(one().replace("{", '{"\\u0069d":7,')))[0]).toEqual([{ path: "id", message: expect.stringMatching(/more than once/) }]);
  });

  it("refuses numbers that cannot be read as written; takes 12.0 for 12 and coordinates rounded to a double", () => {
    expect(lostValue("1e400")).toBe("1e400 is beyond the range of a number");
    expect(lostValue("1e-400")).toBe("1e-400 is too small to tell from 0");
    expect(lostValue("9007199254740993")).toBe("9007199254740993 would be read as 9007199254740992");
    expect(lostValue("12.0000000000000001")).toBe("12.0000000000000001 would be read as 12");
    expect(lostValue("0.99999999999999999")).toBe("0.99999999999999999 would be read as 1");
    for (const exact of ["9007199254740991", "12.000000000000000", "1.2e1", "-0.0", "0e10", "12.924150000000001", "1e21"]) expect(lostValue(exact), exact).toBeUndefined();
    const [candidate] = parseJson(one({ user_id: 0 }).replace('"user_id":0', '"user_id":12.0000000000000001'));
    expect(candidate.errors).toEqual([{ path: "user_id", message: "12.0000000000000001 would be read as 12" }]);
    const twelve = one({ user_id: 0 }).replace('"user_id":0', '"user_id":12.0');
    expect(parseJson(twelve)[0]).toEqual({ input: expect.objectContaining({ user_id: 12 }), from: 0, to: twelve.length });
  });
});

describe("times (ISO 8601; RFC 3339 for query parameters)", () => {
  it("refuses offsets whose minutes pass 59, which were taken as more hours", () => {
    expect(parseTime("2013-01-01T02:00:00+05:75", "UTC")).toEqual({ ok: false, message: '"2013-01-01T02:00:00+05:75" has an offset with 75 minutes; minutes go to 59' });
    expect(parseTime("2013-01-01T02:00:00+0599", "UTC").ok).toBe(false);
    expect(parseTime("2013-01-01T02:00:00+0530", "UTC")).toEqual({ ok: true, instant: Date.parse("2012-12-31T20:30:00Z") });
  });

  it("keeps milliseconds and refuses finer digits rather than cutting them", () => {
    expect(parseTime("2013-01-01T02:00:00.123000000Z", "UTC")).toEqual({ ok: true, instant: Date.parse("2013-01-01T02:00:00.123Z") });
    expect(parseTime("2013-01-01T02:00:00.1234Z", "UTC").ok).toBe(false);
  });

  it("needs an offset where RFC 3339 does", () => {
    expect(parseTime("2013-01-01T02:00:00", "UTC", { requireOffset: true })).toEqual({ ok: false, message: '"2013-01-01T02:00:00" has no offset; add Z or ±hh:mm' });
  });
});

describe("what a ride's fields say together (travel_types and the sample's facts)", () => {
  const read = (rides: unknown[]) => readRides(JSON.stringify(rides), "application/json", "Asia/Kolkata", 20_000);

  it("rejects travel types the table does not hold, and fields a type never has", () => {
    const { rejected } = read([
      ride({ travel_type_id: 4 }),
      ride({ travel_type_id: 2, package_id: 1 }),
      ride({ travel_type_id: 3, package_id: 1, to_area_id: 448 }),
      ride({ booking_created: "2013-01-01T03:00:00+05:30" }),
    ]);
    expect(rejected.map((r) => r.errors)).toEqual([
      [{ path: "travel_type_id", message: "4 is not a travel type (1 long distance, 2 point to point, 3 hourly rental)" }],
      [{ path: "package_id", message: "must be null for travel_type_id 2 (point to point), got 1" }],
      [{ path: "to_area_id", message: "must be null for travel_type_id 3 (hourly rental), got 448" }, expect.objectContaining({ path: "to_lat" }), expect.objectContaining({ path: "to_long" })],
      [{ path: "booking_created", message: "2012-12-31T21:30:00.000Z is after from_date 2012-12-31T20:30:00.000Z; a ride is booked before it starts" }],
    ]);
  });

  it("takes a to_date before from_date (9 of the 200 real rides) with a warning", () => {
    const { accepted, warnings } = read([ride({ to_date: "2013-01-01T00:00:00+05:30" })]);
    expect(accepted).toHaveLength(1);
    expect(warnings).toEqual([{ index: 0, id: 900001, warnings: [{ path: "to_date", message: "2012-12-31T18:30:00.000Z is before from_date 2012-12-31T20:30:00.000Z; stored as sent" }] }]);
    const sample = readRides(SAMPLE_CSV, "text/csv", "Asia/Kolkata", 1000);
    expect({ accepted: sample.accepted.length, rejected: sample.rejected.length, warned: sample.warnings.length }).toEqual({ accepted: 200, rejected: 0, warned: 9 });
  });

  it("lists the first 100 rejected rides in full and counts the rest by field", () => {
    const report = rideReport(read(Array.from({ length: 10_000 }, () => ({}))));
    expect(report.rejected).toHaveLength(100);
    expect(report.rejected_count).toBe(10_000);
    expect(report.rejected_unlisted).toEqual({ rides: 9900, by_field: expect.objectContaining({ id: 9900, from_date: 9900 }) });
    const noisy = `{${Array.from({ length: 500 }, (_, i) => `"k${i}":1,"k${i}":2`).join(",")}}`;
    expect(rideReport(readRides(noisy, "application/json", "UTC", 1)).rejected[0].errors).toHaveLength(21);
  });
});
