import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_RAW_BYTES, MAX_REASONS_BYTES } from "../../src/rides/index.ts";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { rawRequest } from "../support/raw-http.ts";
import { LEAK, postOversized, ride, SAMPLE_CSV, startTestService, waitForJob } from "../support/service.ts";
import { connectStream, connectStreamAt, openTestStream } from "../support/stream.ts";

const INGEST = "abuse-test-ingest-key";
const READER = "abuse-test-reader-key";
const auth = (secret = INGEST) => ({ authorization: `Bearer ${secret}` });

let db: TestDatabase;
let service: Service;
const logged: string[] = [];
const originals = { log: console.log, warn: console.warn, error: console.error };

beforeAll(async () => {
  for (const level of ["log", "warn", "error"] as const) console[level] = (...args: unknown[]) => void logged.push(args.map(String).join(" "));
  db = await createTestDatabase();
  service = await startTestService(db.url, {
    API_KEYS: `${INGEST}:ingest,${READER}:read`,
    BODY_LIMIT_BYTES: "65536",
    MAX_RIDES_PER_REQUEST: "50",
    HEADERS_TIMEOUT_MS: "1000",
  });
});
afterAll(async () => {
  Object.assign(console, originals);
  await service?.stop();
  await db?.drop();
});

type Case = {
  name: string;
  method?: string;
  path?: string;
  type?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  /** A Content-Length over the limit, for a body that is never sent (see postOversized). */
  oversized?: number;
  status: number;
  detail: string | RegExp;
  /** For 422: the first rejected ride's first error. */
  error?: { path: string; message: string | RegExp };
};

const json = "application/json";
const csv = "text/csv";
const ndjson = "application/x-ndjson";
const one = (overrides: Record<string, unknown>) => JSON.stringify(ride(overrides));
const without = (field: string) => {
  const r = ride();
  delete r[field];
  return JSON.stringify(r);
};
const CSV_HEADER = SAMPLE_CSV.split("\n")[0].trim();
const CSV_ROW = SAMPLE_CSV.split("\n")[1].trim();
const csvWith = (column: string, value: string) => {
  const cells = CSV_ROW.split(",");
  cells[CSV_HEADER.split(",").indexOf(column)] = value;
  return `${CSV_HEADER}\n${cells.join(",")}\n`;
};
const invalid = (count: number) => `none of the ${count} rides is valid; nothing was accepted`;
const CSV_ROW_2 = SAMPLE_CSV.split("\n")[2].trim();
const query = (tz: string) => JSON.stringify({ measures: ["count"], time: { from: "2013-01-01T00:00:00Z", to: "2013-02-01T00:00:00Z", tz } });
const withNumber = (field: string, number: string) => JSON.stringify(ride({ [field]: 0 })).replace(`"${field}":0`, `"${field}":${number}`);

const CASES: Case[] = [
  // Who may send
  { name: "no Authorization header", headers: { authorization: "" }, body: one({}), status: 401, detail: "send a valid API key as Authorization: Bearer <key>" },
  { name: "a wrong key", headers: auth("not-the-key-at-all-123"), body: one({}), status: 401, detail: /valid API key/ },
  { name: "an empty Bearer", headers: { authorization: "Bearer " }, body: one({}), status: 401, detail: /valid API key/ },
  { name: "Basic instead of Bearer", headers: { authorization: `Basic ${btoa(`${INGEST}:x`)}` }, body: one({}), status: 401, detail: /valid API key/ },
  { name: "SQL as the key", headers: auth("' OR '1'='1' --"), body: one({}), status: 401, detail: /valid API key/ },
  { name: "the key as a prefix", headers: auth(`${INGEST}${INGEST}`), body: one({}), status: 401, detail: /valid API key/ },
  { name: "a read key posting", headers: auth(READER), body: one({}), status: 403, detail: "this API key lacks the ingest scope needed for POST /v1/rides" },
  { name: "an ingest key reading a ride", method: "GET", path: "/v1/rides/1", status: 403, detail: "this API key lacks the read scope needed for GET /v1/rides/1" },
  // What is sent
  { name: "no Content-Type", type: "", body: new TextEncoder().encode(one({})), status: 415, detail: /Content-Type must be one of .*; got "none"/ },
  { name: "text/plain", type: "text/plain", body: one({}), status: 415, detail: /got "text\/plain"/ },
  { name: "XML", type: "application/xml", body: "<ride><id>1</id></ride>", status: 415, detail: /got "application\/xml"/ },
  { name: "a form", type: "application/x-www-form-urlencoded", body: "id=1", status: 415, detail: /got "application\/x-www-form-urlencoded"/ },
  { name: "an empty JSON body", body: "", status: 400, detail: /^the body is not valid JSON: / },
  { name: "an empty CSV body", type: csv, body: "", status: 400, detail: "the CSV body is empty: it needs a header row" },
  { name: "an empty NDJSON body", type: ndjson, body: "\n\n", status: 400, detail: "the body holds no rides" },
  { name: "truncated JSON", body: one({}).slice(0, 40), status: 400, detail: /^the body is not valid JSON: / },
  { name: "JSON with unquoted keys", body: "{id: 1}", status: 400, detail: /^the body is not valid JSON: / },
  { name: "JSON with a trailing comma", body: `[${one({})},]`, status: 400, detail: /^the body is not valid JSON: / },
  { name: "JSON null", body: "null", status: 400, detail: "the body must be a ride object or an array of rides" },
  { name: "a JSON number", body: "42", status: 400, detail: "the body must be a ride object or an array of rides" },
  { name: "a JSON string", body: '"ride"', status: 400, detail: "the body must be a ride object or an array of rides" },
  { name: "an empty array", body: "[]", status: 400, detail: "the body holds no rides" },
  { name: "an array of numbers", body: "[1,2]", status: 422, detail: invalid(2), error: { path: "", message: "a ride must be a JSON object" } },
  { name: "an array of arrays", body: "[[1]]", status: 422, detail: invalid(1), error: { path: "", message: "a ride must be a JSON object" } },
  { name: "nesting 30,000 deep", body: `${"[".repeat(30_000)}${"]".repeat(30_000)}`, status: 400, detail: "the body is not rides: it nests arrays or objects more than 8 levels deep" },
  { name: "nesting 20 deep", body: `${"[".repeat(20)}${"]".repeat(20)}`, status: 400, detail: "the body is not rides: it nests arrays or objects more than 8 levels deep" },
  { name: "nesting inside a field", body: one({ id: JSON.parse(`${"[".repeat(10)}1${"]".repeat(10)}`) }), status: 400, detail: /more than 8 levels deep/ },
  { name: "a body over BODY_LIMIT_BYTES", oversized: 100 * 1024 * 1024, status: 413, detail: "the body is larger than 65536 bytes; split it into smaller batches" },
  { name: "more rides than MAX_RIDES_PER_REQUEST", body: `[${Array.from({ length: 51 }, (_, i) => one({ id: i + 1 })).join(",")}]`, status: 413, detail: "the body holds 51 rides; at most 50 are taken per request" },
  { name: "invalid UTF-8", body: new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), status: 400, detail: "the body is not valid UTF-8" },
  { name: "UTF-16 text", body: new Uint8Array([0xff, 0xfe, 0x5b, 0x00, 0x5d, 0x00]), status: 400, detail: "the body is not valid UTF-8" },
  { name: "a raw control character in a JSON string", body: one({ from_date: "2013-01-01T02:00\u0001" }).replace("\\u0001", "\u0001"), status: 400, detail: /^the body is not valid JSON: / },
  { name: "a NUL in a time", body: one({ from_date: "2013-01-01T02:00\u0000" }), status: 422, detail: invalid(1), error: { path: "from_date", message: /ISO 8601/ } },
  // Fields
  { name: "id missing", body: without("id"), status: 422, detail: invalid(1), error: { path: "id", message: "is required" } },
  { name: "from_date missing", body: without("from_date"), status: 422, detail: invalid(1), error: { path: "from_date", message: "is required" } },
  { name: "id null", body: one({ id: null }), status: 422, detail: invalid(1), error: { path: "id", message: "must not be null" } },
  { name: "id a word", body: one({ id: "abc" }), status: 422, detail: invalid(1), error: { path: "id", message: /^must be a number, got "abc"/ } },
  { name: "id as SQL", body: one({ id: "1; DROP TABLE rides; --" }), status: 422, detail: invalid(1), error: { path: "id", message: /^must be a number/ } },
  { name: "id negative", body: one({ id: -5 }), status: 422, detail: invalid(1), error: { path: "id", message: /^must be at least 1/ } },
  { name: "id a fraction", body: one({ id: 1.5 }), status: 422, detail: invalid(1), error: { path: "id", message: /^must be a whole number/ } },
  { name: "id beyond 2^53", body: one({ id: 2 ** 63 }), status: 422, detail: invalid(1), error: { path: "id", message: "9223372036854776000 would be read as 9223372036854775808" } },
  { name: "user_id beyond int4", body: one({ user_id: 2 ** 31 }), status: 422, detail: invalid(1), error: { path: "user_id", message: /^must be at most 2147483647/ } },
  { name: "a number too big for a double", body: one({}).replace('"from_lat":12.92415', '"from_lat":1e400'), status: 422, detail: invalid(1), error: { path: "from_lat", message: "1e400 is beyond the range of a number" } },
  { name: "lat NaN as text", body: one({ from_lat: "NaN" }), status: 422, detail: invalid(1), error: { path: "from_lat", message: /^must be a number, got "NaN"/ } },
  { name: "lat 91", body: one({ from_lat: 91 }), status: 422, detail: invalid(1), error: { path: "from_lat", message: /^must be between -90 and 90/ } },
  { name: "long -181", body: one({ to_long: -181 }), status: 422, detail: invalid(1), error: { path: "to_long", message: /^must be between -180 and 180/ } },
  { name: "30 February", body: one({ from_date: "2013-02-30T10:00" }), status: 422, detail: invalid(1), error: { path: "from_date", message: /2013-02-30T10:00/ } },
  { name: "the producer's 2/30/2013 in JSON", body: one({ from_date: "2/30/2013 10:00" }), status: 422, detail: invalid(1), error: { path: "from_date", message: /2\/30\/2013 10:00/ } },
  { name: "hour 25", body: one({ booking_created: "2013-01-01T25:00" }), status: 422, detail: invalid(1), error: { path: "booking_created", message: /2013-01-01T25:00/ } },
  { name: "far future", body: one({ from_date: "3013-01-01T00:00:00Z" }), status: 422, detail: invalid(1), error: { path: "from_date", message: /outside 2000-01-01 to one year from now/ } },
  { name: "far past", body: one({ from_date: "1970-01-01T00:00:00Z" }), status: 422, detail: invalid(1), error: { path: "from_date", message: /outside 2000-01-01 to one year from now/ } },
  { name: "a time as epoch seconds", body: one({ from_date: 1356998400 }), status: 422, detail: invalid(1), error: { path: "from_date", message: /^must be an ISO 8601 date-time string/ } },
  { name: "an empty time", body: one({ to_date: "" }), status: 422, detail: invalid(1), error: { path: "to_date", message: /""/ } },
  { name: "SQL in a time", body: one({ from_date: "2013-01-01'; DROP TABLE rides; --" }), status: 422, detail: invalid(1), error: { path: "from_date", message: /DROP TABLE/ } },
  { name: "a flag of 2", body: one({ online_booking: 2 }), status: 422, detail: invalid(1), error: { path: "online_booking", message: /^must be true, false, 0 or 1/ } },
  { name: "a flag as text", body: one({ car_cancellation: "true" }), status: 422, detail: invalid(1), error: { path: "car_cancellation", message: /^must be true, false, 0 or 1/ } },
  { name: "NULL as text in JSON", body: one({ package_id: "NULL" }), status: 422, detail: invalid(1), error: { path: "package_id", message: /^must be a number/ } },
  { name: "an extra field", body: one({ driver: "x" }), status: 422, detail: invalid(1), error: { path: "driver", message: /^is not a ride field/ } },
  { name: "__proto__ as a field", body: one({}).replace("{", '{"__proto__":{"admin":true},'), status: 422, detail: invalid(1), error: { path: "__proto__", message: /^is not a ride field/ } },
  { name: "an object as a field", body: one({ user_id: { $gt: 0 } }), status: 422, detail: invalid(1), error: { path: "user_id", message: /^must be a number/ } },
  { name: "every ride invalid", body: `[${one({ id: 0 })},${one({ from_lat: 100 })}]`, status: 422, detail: invalid(2), error: { path: "id", message: /^must be at least 1/ } },
  { name: "an offset with 75 minutes", body: one({ from_date: "2013-01-01T02:00:00+05:75" }), status: 422, detail: invalid(1), error: { path: "from_date", message: '"2013-01-01T02:00:00+05:75" has an offset with 75 minutes; minutes go to 59' } },
  { name: "an offset +0599", body: one({ booking_created: "2013-01-01T01:00:00+0599" }), status: 422, detail: invalid(1), error: { path: "booking_created", message: /has an offset with 99 minutes/ } },
  { name: "a time finer than a millisecond", body: one({ from_date: "2013-01-01T02:00:00.0000001+05:30" }), status: 422, detail: invalid(1), error: { path: "from_date", message: /is finer than a millisecond/ } },
  // What a ride's fields say together (travel_types, data/README.md)
  { name: "an unknown travel type", body: one({ travel_type_id: 4 }), status: 422, detail: invalid(1), error: { path: "travel_type_id", message: "4 is not a travel type (1 long distance, 2 point to point, 3 hourly rental)" } },
  { name: "travel type 0", body: one({ travel_type_id: 0 }), status: 422, detail: invalid(1), error: { path: "travel_type_id", message: /^0 is not a travel type/ } },
  { name: "a package on a point-to-point ride", body: one({ package_id: 1 }), status: 422, detail: invalid(1), error: { path: "package_id", message: "must be null for travel_type_id 2 (point to point), got 1" } },
  { name: "an hourly rental with a destination area", body: one({ travel_type_id: 3, package_id: 1, to_lat: null, to_long: null }), status: 422, detail: invalid(1), error: { path: "to_area_id", message: "must be null for travel_type_id 3 (hourly rental), got 448" } },
  { name: "a booking made after the ride began", body: one({ booking_created: "2013-01-01T02:30:00+05:30" }), status: 422, detail: invalid(1), error: { path: "booking_created", message: /is after from_date .*; a ride is booked before it starts/ } },
  // JSON text that JSON.parse reads silently otherwise (RFC 8259 leaves duplicates and precision open)
  { name: "a key sent twice", body: one({ id: 900002 }).replace("{", '{"id":900003,'), status: 422, detail: invalid(1), error: { path: "id", message: "appears more than once in the ride; send each field once" } },
  { name: "a key sent 500 times", body: one({}).replace("{", "{" + '"from_lat":1,'.repeat(500)), status: 422, detail: invalid(1), error: { path: "from_lat", message: /appears more than once/ } },
  { name: "a flag of 0.99999999999999999", body: withNumber("online_booking", "0.99999999999999999"), status: 422, detail: invalid(1), error: { path: "online_booking", message: "0.99999999999999999 would be read as 1" } },
  { name: "a user_id with a fraction lost in parsing", body: withNumber("user_id", "22177.000000000001"), status: 422, detail: invalid(1), error: { path: "user_id", message: "22177.000000000001 would be read as 22177" } },
  { name: "an id of 2^53 + 1", body: withNumber("id", "9007199254740993"), status: 422, detail: invalid(1), error: { path: "id", message: "9007199254740993 would be read as 9007199254740992" } },
  { name: "a latitude too small for a double", body: withNumber("from_lat", "1e-400"), status: 422, detail: invalid(1), error: { path: "from_lat", message: "1e-400 is too small to tell from 0" } },
  // NDJSON
  { name: "an NDJSON line that is not JSON", type: ndjson, body: "{nope}\n", status: 422, detail: invalid(1), error: { path: "", message: /^line 1 is not valid JSON/ } },
  { name: "an NDJSON line nested deep", type: ndjson, body: `${"[".repeat(12)}${"]".repeat(12)}\n`, status: 422, detail: invalid(1), error: { path: "", message: "line 1 is not a ride: it nests arrays or objects more than 8 levels deep" } },
  { name: "a JSON array as NDJSON", type: ndjson, body: `[${one({})}]`, status: 422, detail: invalid(1), error: { path: "", message: "a ride must be a JSON object" } },
  { name: "two NDJSON rides on one line", type: ndjson, body: `${one({ id: 900004 })}${one({ id: 900005 })}\n`, status: 422, detail: invalid(2), error: { path: "", message: "line 1 holds 2 JSON values; NDJSON takes one ride per line, ended by LF or CRLF" } },
  { name: "NDJSON with lone CR line ends", type: ndjson, body: `${one({ id: 900006 })}\r${one({ id: 900007 })}\r`, status: 422, detail: invalid(2), error: { path: "", message: /^line 1 holds 2 JSON values/ } },
  // CSV
  { name: "a CSV header only", type: csv, body: `${CSV_HEADER}\n`, status: 400, detail: "the body holds no rides" },
  { name: "a CSV column missing", type: csv, body: `${CSV_HEADER.replace(",Car_Cancellation", "")}\n1,2\n`, status: 400, detail: "CSV header lacks car_cancellation" },
  { name: "a CSV column twice", type: csv, body: `${CSV_HEADER},id\n${CSV_ROW},1\n`, status: 400, detail: 'CSV column "id" appears twice' },
  { name: "an unknown CSV column", type: csv, body: `${CSV_HEADER},tip\n${CSV_ROW},5\n`, status: 400, detail: 'CSV column "tip" is not a ride field' },
  { name: "SQL as a CSV column", type: csv, body: `${CSV_HEADER},"x"";DROP TABLE rides;--"\n${CSV_ROW},1\n`, status: 400, detail: 'CSV column "x";drop table rides;--" is not a ride field' },
  { name: "a CSV row with too few fields", type: csv, body: `${CSV_HEADER}\n1,2,3\n`, status: 422, detail: invalid(1), error: { path: "", message: "line 2 has 3 fields, the header has 19" } },
  { name: "a CSV row with too many fields", type: csv, body: `${CSV_HEADER}\n${CSV_ROW},9\n`, status: 422, detail: invalid(1), error: { path: "", message: "line 2 has 20 fields, the header has 19" } },
  { name: "a CSV line over 4096 bytes", type: csv, body: `${CSV_HEADER}\n${CSV_ROW.replace("NULL", "9".repeat(5000))}\n`, status: 400, detail: "CSV line 2 is longer than 4096 bytes; a ride's line is far shorter" },
  { name: "a CSV line over 4096 bytes but not characters", type: csv, body: `${CSV_HEADER}\n${CSV_ROW.replace("NULL", "é".repeat(2100))}\n`, status: 400, detail: "CSV line 2 is longer than 4096 bytes; a ride's line is far shorter" },
  { name: "CSV with lone CR line ends", type: csv, body: `${CSV_HEADER}\r${CSV_ROW}\r`, status: 400, detail: "CSV line 1 holds a carriage return that does not end a line; lines end in LF or CRLF" },
  { name: "a lone CR between two CSV rides", type: csv, body: `${CSV_HEADER}\n${CSV_ROW}\r${CSV_ROW_2}\n`, status: 400, detail: /^CSV line 2 holds a carriage return/ },
  { name: "a CSV quote spanning two rides' lines", type: csv, body: `${CSV_HEADER}\n${CSV_ROW.replace(/,0$/, ',"0')}\n${CSV_ROW_2.replace(/,0$/, ',0"')}\n`, status: 422, detail: invalid(2), error: { path: "", message: /^line 2: a quoted field is not closed on its line/ } },
  { name: "a CSV flag of 0.99999999999999999", type: csv, body: csvWith("Car_Cancellation", "0.99999999999999999"), status: 422, detail: invalid(1), error: { path: "car_cancellation", message: "0.99999999999999999 would be read as 1" } },
  { name: "an unclosed CSV quote", type: csv, body: `${CSV_HEADER}\n"${CSV_ROW}\n`, status: 422, detail: invalid(1), error: { path: "", message: "line 2: a quoted field is not closed on its line (a ride's fields never hold a line break)" } },
  { name: "30 February in CSV", type: csv, body: csvWith("from_date", "2/30/2013 10:00"), status: 422, detail: invalid(1), error: { path: "from_date", message: /2013-02-30T10:00/ } },
  { name: "NaN in a CSV cell", type: csv, body: csvWith("from_lat", "NaN"), status: 422, detail: invalid(1), error: { path: "from_lat", message: /^must be a number, got "NaN"/ } },
  { name: "SQL in a CSV cell", type: csv, body: csvWith("user_id", "1 OR 1=1"), status: 422, detail: invalid(1), error: { path: "user_id", message: /^must be a number, got "1 OR 1=1"/ } },
  { name: "a control character in a CSV cell", type: csv, body: csvWith("vehicle_model_id", "2\u00078"), status: 422, detail: invalid(1), error: { path: "vehicle_model_id", message: /^must be a number/ } },
  { name: "JSON sent as CSV", type: csv, body: one({}), status: 400, detail: "CSV header (line 1): field 1 holds a quote but is not quoted (quote the field and double the quote)" },
  { name: "CSV sent as JSON", body: SAMPLE_CSV, status: 400, detail: /^the body is not valid JSON: / },
  // Query and headers
  { name: "Content-Type sent twice (as joined)", type: "text/csv; charset=utf-8, application/json", body: `${CSV_HEADER}\n${CSV_ROW}\n`, status: 400, detail: 'header Content-Type: "text/csv; charset=utf-8, application/json" is not one media type (was it sent twice?)' },
  { name: "a charset that is not UTF-8", type: "text/csv; charset=iso-8859-1", body: `${CSV_HEADER}\n${CSV_ROW}\n`, status: 415, detail: "Content-Type charset=iso-8859-1: bodies are read as UTF-8 only" },
  { name: "a tz only Node knows", path: "/v1/rides?tz=US/Pacific-New", body: one({ from_date: "2013-01-01T02:00" }), status: 400, detail: 'query parameter tz: "US/Pacific-New" is not an IANA time zone such as Asia/Kolkata' },
  { name: "a query in US/Pacific-New", path: "/v1/query", headers: auth(READER), body: query("US/Pacific-New"), status: 400, detail: 'time.tz: "US/Pacific-New" is not an IANA time zone such as Asia/Kolkata' },
  { name: "a query in Canada/East-Saskatchewan", path: "/v1/query", headers: auth(READER), body: query("Canada/East-Saskatchewan"), status: 400, detail: 'time.tz: "Canada/East-Saskatchewan" is not an IANA time zone such as Asia/Kolkata' },
  { name: "an unknown time zone", path: "/v1/rides?tz=Mars/Olympus", body: one({}), status: 400, detail: 'query parameter tz: "Mars/Olympus" is not an IANA time zone such as Asia/Kolkata' },
  { name: "SQL as a time zone", path: "/v1/rides?tz=UTC'%3B--", body: one({}), status: 400, detail: /^query parameter tz: "UTC';--" is not an IANA time zone/ },
  { name: "a bad wait", path: "/v1/rides?wait=forever", body: one({}), status: 400, detail: 'query parameter wait: must be "stored"' },
  { name: "an unknown query parameter", path: "/v1/rides?debug=1", body: one({}), status: 400, detail: "query parameter debug: is not a known parameter (tz, wait)" },
  { name: "an Idempotency-Key with a space", headers: { "idempotency-key": "a b" }, body: one({}), status: 400, detail: /^header Idempotency-Key: must be 1 to 255 printable ASCII/ },
  { name: "an Idempotency-Key sent twice (as joined)", headers: { "idempotency-key": "key-1, key-2" }, body: one({}), status: 400, detail: /^header Idempotency-Key: must be 1 to 255 printable ASCII characters without spaces/ },
  { name: "an Idempotency-Key of 300 characters", headers: { "idempotency-key": "k".repeat(300) }, body: one({}), status: 400, detail: /^header Idempotency-Key/ },
  // Other routes
  { name: "a job id that is a word", method: "GET", path: "/v1/jobs/abc", headers: auth(READER), status: 404, detail: "no job abc" },
  { name: "a job id with SQL", method: "GET", path: "/v1/jobs/1%20OR%201=1", headers: auth(READER), status: 404, detail: "no job 1 OR 1=1" },
  { name: "a job id past 2^53", method: "GET", path: "/v1/jobs/99999999999999999999", headers: auth(READER), status: 404, detail: "no job 99999999999999999999" },
  { name: "a ride id of -1", method: "GET", path: "/v1/rides/-1", headers: auth(READER), status: 404, detail: /^no stored ride -1/ },
  { name: "a job limit of 100000", method: "GET", path: "/v1/jobs?limit=100000", headers: auth(READER), status: 400, detail: "query parameter limit: must be at most 1000" },
  { name: "a job status with SQL", method: "GET", path: "/v1/jobs?status=done'--", headers: auth(READER), status: 400, detail: /^query parameter status: must be one of queued, done, failed, lost/ },
  { name: "a since that is not a time", method: "GET", path: "/v1/jobs?since=yesterday", headers: auth(READER), status: 400, detail: /^query parameter since: must be an ISO 8601 timestamp/ },
  { name: "a since of 30 February", method: "GET", path: "/v1/jobs?since=2026-02-30T00:00:00Z", headers: auth(READER), status: 400, detail: 'query parameter since: must be an ISO 8601 timestamp with offset, e.g. 2026-01-01T00:00:00Z: "2026-02-30T00:00:00Z" is not a real calendar date and time' },
  { name: "a since with a 75-minute offset", method: "GET", path: "/v1/jobs?since=2026-01-01T00:00:00%2B05:75", headers: auth(READER), status: 400, detail: /^query parameter since: must be an ISO 8601 timestamp with offset/ },
  { name: "a dashboard until of 30 February", method: "GET", path: "/dashboard/stats?until=2026-02-30T00:00:00Z", headers: auth(READER), status: 400, detail: 'query parameter until: must be an ISO 8601 timestamp with offset, e.g. 2013-01-06T00:00:00Z: "2026-02-30T00:00:00Z" is not a real calendar date and time' },
  { name: "the dashboard's numbers without a key", method: "GET", path: "/dashboard/stats?days=31&until=2026-01-01T00:00:00Z", headers: { authorization: "" }, status: 401, detail: /valid API key/ },
  { name: "the dashboard's numbers with an ingest key", method: "GET", path: "/dashboard/stats", status: 403, detail: "this API key lacks the read scope needed for GET /dashboard/stats" },
  { name: "metrics without a key", method: "GET", path: "/metrics", headers: { authorization: "" }, status: 401, detail: /valid API key/ },
  { name: "DELETE on rides", method: "DELETE", path: "/v1/rides", status: 404, detail: "no route for DELETE /v1/rides" },
  { name: "PUT on a ride", method: "PUT", path: "/v1/rides/1", headers: auth(READER), body: one({}), status: 404, detail: "no route for PUT /v1/rides/1" },
];

/**
 * Requests Node's HTTP parser refuses before the app sees them, written byte for byte on
 * a socket of their own: each still gets its problem+json.
 */
const RAW_CASES: { name: string; request: string; status: number; detail: string | RegExp }[] = [
  { name: "headers over 16 KiB", request: `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${"a".repeat(20_000)}\r\n\r\n`, status: 431, detail: "the request's headers are larger than 16384 bytes" },
  { name: "Content-Length twice", request: `POST /v1/rides HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, status: 400, detail: /^the request is not valid HTTP\/1\.1: / },
  { name: "Content-Length with chunked", request: `POST /v1/rides HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, status: 400, detail: /^the request is not valid HTTP\/1\.1: / },
  { name: "a Content-Length that is not a number", request: `POST /v1/rides HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1e3\r\n\r\n`, status: 400, detail: /^the request is not valid HTTP\/1\.1: / },
  { name: "a request line that is not HTTP", request: "HELLO\r\n\r\n", status: 400, detail: /^the request is not valid HTTP\/1\.1: / },
  { name: "a bad chunk size", request: `POST /v1/rides HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`, status: 400, detail: /^the request is not valid HTTP\/1\.1: / },
  { name: "HTTP/1.1 without Host", request: "GET /v1/jobs HTTP/1.1\r\nConnection: close\r\n\r\n", status: 400, detail: "header Host is required in HTTP/1.1" },
  { name: "headers that never finish (HEADERS_TIMEOUT_MS)", request: "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", status: 408, detail: "the request's headers did not arrive within HEADERS_TIMEOUT_MS (1000 ms)" },
];

/** Valid rides sent between the hostile requests: all of them must be stored. */
const VALID_FIRST_ID = 880_000;

async function send(c: Case) {
  const headers: Record<string, string> = { ...auth(), ...(c.body === undefined && !c.oversized ? {} : { "content-type": c.type ?? json }), ...c.headers };
  for (const [name, value] of Object.entries(headers)) if (value === "") delete headers[name];
  if (c.oversized) {
    const answer = await postOversized(service.url, c.path ?? "/v1/rides", headers, c.oversized);
    return { status: answer.status, type: answer.headers.get("content-type"), body: answer.body };
  }
  const response = await fetch(`${service.url}${c.path ?? "/v1/rides"}`, { method: c.method ?? "POST", headers, body: c.body });
  return { status: response.status, type: response.headers.get("content-type"), body: await response.json() };
}

/** An upgrade to the stream, answered before any frame: the HTTP refusal or the WebSocket. */
type HandshakeCase = { name: string; headers?: Record<string, string>; protocols?: string[]; query?: string; path?: string; status: number; detail?: string | RegExp };

const keyProtocol = (secret: string) => `rides-ingest.key.${Buffer.from(secret).toString("base64url")}`;

const HANDSHAKES: HandshakeCase[] = [
  { name: "a stream without a key", status: 401, detail: /^send a valid API key as Authorization: Bearer <key>, or \(browsers\) offer the subprotocols/ },
  { name: "a stream with a wrong key", headers: auth("not-the-key-at-all-123"), status: 401, detail: /valid API key/ },
  { name: "a stream with a read key", headers: auth(READER), status: 403, detail: "this API key lacks the ingest scope needed for GET /v1/rides/stream" },
  { name: "a stream with the key in the URL", query: `?api_key=${INGEST}`, headers: auth(), status: 400, detail: 'query parameter "api_key": is not a known parameter (tz)' },
  { name: "a stream with an unknown zone", query: "?tz=Mars/Olympus", headers: auth(), status: 400, detail: 'query parameter "tz": "Mars/Olympus" is not an IANA time zone such as Asia/Kolkata' },
  { name: "a stream with an offset for a zone", query: "?tz=%2B05:30", headers: auth(), status: 400, detail: /^query parameter "tz": "\+05:30" is not an IANA time zone/ },
  { name: "a stream with a key subprotocol that is not base64url", protocols: ["rides-ingest.v1", "rides-ingest.key.!!!"], status: 401, detail: /valid API key/ },
  { name: "a stream with a read key as subprotocol", protocols: ["rides-ingest.v1", keyProtocol(READER)], status: 403, detail: /lacks the ingest scope/ },
  { name: "a WebSocket on another path", path: "/v1/rides/streams", headers: auth(), status: 404, detail: "no WebSocket at /v1/rides/streams; streams are at /v1/rides/stream" },
  { name: "a stream with the ingest key as Bearer", headers: auth(), status: 101 },
  { name: "a stream with the ingest key as subprotocol (browsers)", protocols: ["rides-ingest.v1", keyProtocol(INGEST)], status: 101 },
];

/** A frame after a valid one (seq 1), and what the stream does with it. */
type FrameCase = {
  name: string;
  frame: string | Buffer;
  binary?: boolean;
  close?: { code: number; reason: string | RegExp };
  error?: { status: number; detail: string | RegExp };
  /** For 422: the first rejected ride's first error. */
  rideError?: { path: string; message: string };
};

const STREAM_FIRST_ID = 960_000;
const hostile = (n: number) => one({ id: STREAM_FIRST_ID + 500 + n });
const FRAMES: FrameCase[] = [
  { name: "a frame that is not JSON", frame: "{seq: 2}", close: { code: 1007, reason: "a frame is not valid JSON: send {seq, rides} as JSON text" } },
  { name: "a truncated frame", frame: `{"seq":2,"rides":[${hostile(1)}`, close: { code: 1007, reason: /not valid JSON/ } },
  { name: "a frame that is an array", frame: `[${hostile(2)}]`, close: { code: 1007, reason: "a frame must be a JSON object {seq, rides}" } },
  { name: "a frame that is null", frame: "null", close: { code: 1007, reason: "a frame must be a JSON object {seq, rides}" } },
  { name: "a frame nested 30,000 deep", frame: `{"seq":2,"rides":${"[".repeat(30_000)}${"]".repeat(30_000)}}`, close: { code: 1007, reason: "a frame is not {seq, rides}: it nests arrays or objects more than 8 levels deep" } },
  { name: "a frame of invalid UTF-8", frame: Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), close: { code: 1007, reason: "a text frame is not valid UTF-8" } },
  { name: "a binary frame", frame: Buffer.from(`{"seq":2,"rides":[${hostile(3)}]}`), binary: true, close: { code: 1003, reason: "binary frames are not taken: send {seq, rides} as a text frame" } },
  { name: "a frame over BODY_LIMIT_BYTES", frame: `{"seq":2,"rides":[${Array.from({ length: 40 }, (_, i) => hostile(10 + i)).join(",")}],"pad":"${"x".repeat(70_000)}"}`, error: { status: 413, detail: "the frame is larger than 65536 bytes (BODY_LIMIT_BYTES); split its rides over more frames" } },
  { name: "a frame over twice BODY_LIMIT_BYTES", frame: `{"seq":2,"rides":[${hostile(62)}],"pad":"${"x".repeat(140_000)}"}`, close: { code: 1009, reason: "a frame over 131072 bytes is not read; a frame holds at most BODY_LIMIT_BYTES (65536)" } },
  { name: "a frame that gives seq twice", frame: `{"seq":1,"rides":[${hostile(63)}],"seq":2}`, close: { code: 1007, reason: 'a frame gives its field "seq" twice: send seq and rides once each' } },
  { name: "a frame that gives rides twice", frame: `{"seq":2,"rides":[${hostile(64)}],"rides":[]}`, close: { code: 1007, reason: 'a frame gives its field "rides" twice: send seq and rides once each' } },
  { name: "a frame that gives a long non-ASCII field twice", frame: `{"seq":2,"${"ключ".repeat(20)}":1,"${"ключ".repeat(20)}":2,"rides":[${hostile(69)}]}`, close: { code: 1007, reason: /^a frame gives its field "(ключ)+к?л?ю?…$/ } },
  { name: "a seq that would lose its value", frame: `{"seq":2.0000000000000001,"rides":[${hostile(65)}]}`, close: { code: 1008, reason: "seq 2.0000000000000001 would be read as 2: send it as a whole number" } },
  { name: "a frame with junk after it", frame: `{"seq":2,"rides":[${hostile(66)}]} {"seq":3}`, close: { code: 1007, reason: "a frame is not valid JSON: send {seq, rides} as JSON text" } },
  { name: "a frame whose rides are not valid JSON", frame: `{"seq":2,"rides":[{"id":1,}]}`, close: { code: 1007, reason: "a frame is not valid JSON: send {seq, rides} as JSON text" } },
  { name: "a frame without seq", frame: `{"rides":[${hostile(4)}]}`, close: { code: 1008, reason: "a frame has no seq: every frame needs an increasing whole number seq" } },
  { name: "a seq that is text", frame: `{"seq":"2","rides":[${hostile(5)}]}`, close: { code: 1008, reason: 'seq must be a whole number of at least 0, got "2"' } },
  { name: "a negative seq", frame: `{"seq":-1,"rides":[${hostile(6)}]}`, close: { code: 1008, reason: "seq must be a whole number of at least 0, got -1" } },
  { name: "a fractional seq", frame: `{"seq":2.5,"rides":[${hostile(7)}]}`, close: { code: 1008, reason: "seq must be a whole number of at least 0, got 2.5" } },
  { name: "a seq past 2^53", frame: `{"seq":1e300,"rides":[${hostile(8)}]}`, close: { code: 1008, reason: /^seq must be a whole number of at least 0, got 1e\+300/ } },
  { name: "a repeated seq", frame: `{"seq":1,"rides":[${hostile(9)}]}`, close: { code: 1008, reason: "seq 1 is not greater than the previous frame's 1" } },
  { name: "a decreasing seq", frame: `{"seq":0,"rides":[${hostile(60)}]}`, close: { code: 1008, reason: "seq 0 is not greater than the previous frame's 1" } },
  { name: "rides that are not an array", frame: '{"seq":2,"rides":{"id":1}}', error: { status: 400, detail: 'frame field "rides": must be an array of rides' } },
  { name: "a frame with no rides", frame: '{"seq":2,"rides":[]}', error: { status: 400, detail: "the body holds no rides" } },
  { name: "a frame without rides", frame: '{"seq":2}', error: { status: 400, detail: 'frame field "rides": must be an array of rides' } },
  { name: "a frame with an extra field", frame: `{"seq":2,"rides":[${hostile(61)}],"__proto__":{"admin":true}}`, error: { status: 400, detail: 'frame field "__proto__": is not a known field (seq, rides)' } },
  { name: "a frame over MAX_RIDES_PER_REQUEST", frame: `{"seq":2,"rides":[${Array.from({ length: 51 }, (_, i) => one({ id: i + 1 })).join(",")}]}`, error: { status: 413, detail: "the body holds 51 rides; at most 50 are taken per request" } },
  { name: "a frame of numbers", frame: '{"seq":2,"rides":[1,2]}', error: { status: 422, detail: invalid(2) } },
  { name: "a frame of SQL", frame: `{"seq":2,"rides":[${one({ id: "1; DROP TABLE rides; --" })}]}`, error: { status: 422, detail: invalid(1) } },
  // Read as a POST body is: JSON.parse alone would keep the last copy of the key, or 1 for the number.
  { name: "a frame whose ride gives a field twice", frame: `{"seq":2,"rides":[${hostile(67).replace("{", '{"user_id":1,')}]}`, error: { status: 422, detail: invalid(1) }, rideError: { path: "user_id", message: "appears more than once in the ride; send each field once" } },
  { name: "a frame whose ride holds a number that loses its value", frame: `{"seq":2,"rides":[${hostile(68).replace(/"user_id":\d+/, '"user_id":0.99999999999999999')}]}`, error: { status: 422, detail: invalid(1) }, rideError: { path: "user_id", message: "0.99999999999999999 would be read as 1" } },
];

describe("the stream's abuse corpus", () => {
  it("refuses each hostile handshake before upgrading, with its status and problem+json", async () => {
    const results = [];
    for (const c of HANDSHAKES) {
      const url = c.path ? `${service.url.replace(/^http/, "ws")}${c.path}` : undefined;
      const answer = url
        ? await connectStreamAt(url, c)
        : await connectStream(service.url, { headers: c.headers, protocols: c.protocols, query: c.query });
      if ("ws" in answer) {
        results.push({ name: c.name, status: 101, protocol: answer.ws.protocol });
        answer.ws.close(1000);
        continue;
      }
      results.push({
        name: c.name,
        status: answer.status,
        type: answer.headers["content-type"],
        detail: answer.body.detail,
        leaks: LEAK.test(JSON.stringify(answer.body)) || JSON.stringify(answer.body).includes("abuse-test-"),
      });
    }
    expect(results).toEqual(
      HANDSHAKES.map((c) =>
        c.status === 101
          ? { name: c.name, status: 101, protocol: "rides-ingest.v1" }
          : { name: c.name, status: c.status, type: "application/problem+json", detail: typeof c.detail === "string" ? c.detail : expect.stringMatching(c.detail!), leaks: false },
      ),
    );
  });

  it("answers a handshake that is not a WebSocket one: 426 for a plain GET, 400 for a broken upgrade", async () => {
    // GET /v1/rides/{id} needs a read key, and the path matches it too.
    const plain = await fetch(`${service.url}/v1/rides/stream`, { headers: auth(READER) });
    expect(plain.status).toBe(426);
    expect(await plain.json()).toMatchObject({ status: 426, title: "Upgrade Required", detail: /is a WebSocket/ });
    const broken = await new Promise<number>((resolve, reject) => {
      const req = request(`${service.url}/v1/rides/stream`, { headers: { ...auth(), connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13" } });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      req.end();
    });
    expect(broken).toBe(400);
  });

  it("closes on a frame that breaks the protocol, after the ack of the frame before; refuses a frame it cannot take and goes on", async () => {
    const results = [];
    for (const [i, c] of FRAMES.entries()) {
      const stream = await openTestStream(service.url, { headers: auth() });
      stream.send({ seq: 1, rides: [ride({ id: STREAM_FIRST_ID + i })] });
      stream.ws.send(c.frame, { binary: c.binary ?? false });
      // A later frame is read only when the stream goes on.
      stream.send({ seq: 100, rides: [ride({ id: STREAM_FIRST_ID + 200 + i })] });
      if (c.close) {
        const closed = await stream.closed;
        results.push({ name: c.name, acks: stream.acks().map((ack) => ack.seq), answers: stream.messages.filter((m) => "seq" in m).length, close: closed });
      } else {
        await stream.until((messages) => messages.filter((m) => "seq" in m).length === 3);
        const refusal = stream.refusals()[0];
        const rideError = refusal?.error.rejected?.[0]?.errors[0];
        results.push({ name: c.name, acks: stream.acks().map((ack) => ack.seq), error: { status: refusal?.error.status, detail: refusal?.error.detail, seq: refusal?.seq }, ...(c.rideError && { rideError }) });
        stream.ws.close(1000);
      }
    }
    const text = (wanted: string | RegExp) => (typeof wanted === "string" ? wanted : expect.stringMatching(wanted));
    expect(results).toEqual(
      FRAMES.map((c) =>
        c.close
          // A frame too big is closed by ws as its header arrives, before the ack of seq 1 can go out.
          ? { name: c.name, acks: c.close.code === 1009 ? expect.any(Array) : [1], answers: expect.any(Number), close: { code: c.close.code, reason: text(c.close.reason) } }
          : { name: c.name, acks: [1, 100], error: { status: c.error!.status, detail: text(c.error!.detail), seq: 2 }, ...(c.rideError && { rideError: c.rideError }) },
      ),
    );
    const stored = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM rides WHERE id >= $1 + 500 AND id < $1 + 1000", [STREAM_FIRST_ID]);
    expect(stored.rows[0].n).toBe(0);
  });
});

describe("the abuse corpus", () => {
  it(`holds at least 60 hostile or broken requests (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it("answers each with its 4xx and a precise problem+json while valid rides sent alongside are taken", async () => {
    const valid: Promise<number>[] = [];
    const results: { name: string; got: object; wanted: object }[] = [];
    for (const [i, c] of CASES.entries()) {
      const validRide = fetch(`${service.url}/v1/rides`, {
        method: "POST",
        headers: { ...auth(), "content-type": json },
        body: one({ id: VALID_FIRST_ID + i }),
      }).then(async (response) => {
        expect(response.status, `the valid ride sent with "${c.name}"`).toBe(202);
        return ((await response.json()) as { job_id: number }).job_id;
      });
      valid.push(validRide);
      const answer = await send(c);
      const got = {
        status: answer.status,
        type: answer.type,
        problem: { type: answer.body.type, status: answer.body.status, title: typeof answer.body.title, instance: typeof answer.body.instance },
        detail: answer.body.detail,
        error: c.error ? answer.body.rejected?.[0]?.errors?.[0] : undefined,
        leaks: LEAK.test(JSON.stringify(answer.body)) || JSON.stringify(answer.body).includes("abuse-test-"),
      };
      const wanted = {
        status: c.status,
        type: "application/problem+json",
        problem: { type: "about:blank", status: c.status, title: "string", instance: "string" },
        detail: typeof c.detail === "string" ? c.detail : expect.stringMatching(c.detail),
        error: c.error && {
          path: c.error.path,
          message: typeof c.error.message === "string" ? c.error.message : expect.stringMatching(c.error.message),
        },
        leaks: false,
      };
      results.push({ name: c.name, got, wanted });
    }
    // Every case is checked before failing, so one run shows every wrong answer.
    expect(results.map((r) => ({ name: r.name, ...r.got }))).toEqual(results.map((r) => ({ name: r.name, ...r.wanted })));

    const jobs = await Promise.all(valid);
    for (const jobId of jobs) expect((await waitForJob(service.url, jobId, 15_000, auth(READER))).status).toBe("done");
    const stored = await db.pool.query("SELECT count(*)::int AS n FROM rides WHERE id >= $1 AND id < $2", [VALID_FIRST_ID, VALID_FIRST_ID + CASES.length]);
    expect(stored.rows[0].n).toBe(CASES.length);
    // Nothing from a hostile request was stored.
    expect((await db.pool.query("SELECT count(*)::int AS n FROM rides WHERE id < $1", [VALID_FIRST_ID])).rows[0].n).toBe(0);
  });

  it(`answers each of the ${RAW_CASES.length} requests Node's parser refuses with its 4xx as problem+json`, async () => {
    const answers = await Promise.all(RAW_CASES.map((c) => rawRequest(service.url, c.request)));
    expect(answers.map((answer, i) => ({ name: RAW_CASES[i].name, status: answer.status, type: answer.headers["content-type"], problem: answer.body && { status: answer.body.status, title: typeof answer.body.title, detail: answer.body.detail } }))).toEqual(
      RAW_CASES.map((c) => ({ name: c.name, status: c.status, type: "application/problem+json", problem: { status: c.status, title: "string", detail: typeof c.detail === "string" ? c.detail : expect.stringMatching(c.detail) } })),
    );
  });

  it("stays healthy and takes the odd but valid: a BOM, CRLF line ends, quoted CSV, unicode", async () => {
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
    const row = (id: number) => CSV_ROW.replace(/^\d+/, String(id));
    const odd: Case[] = [
      { name: "JSON with a BOM", body: `\uFEFF${one({ id: 890001 })}`, status: 202, detail: "" },
      { name: "CSV with a BOM and CRLF", type: csv, body: `\uFEFF${CSV_HEADER}\r\n${row(890002)}\r\n`, status: 202, detail: "" },
      { name: "CSV with quoted cells and header in capitals", type: csv, body: `${CSV_HEADER.toUpperCase()}\n"890003"${row(0).slice(1)}\n`, status: 202, detail: "" },
      { name: "NDJSON with CRLF", type: ndjson, body: `${one({ id: 890004 })}\r\n${one({ id: 890005 })}\r\n`, status: 202, detail: "" },
      { name: "a CR inside an NDJSON ride (JSON whitespace)", type: ndjson, body: `${one({ id: 890011 }).replace(",", ",\r")}\n`, status: 202, detail: "" },
      { name: "12.0 for a whole number (no value lost)", body: withNumber("user_id", "12.0").replace('"id":900001', '"id":890006'), status: 202, detail: "" },
      { name: "a basic-format offset +0530", body: one({ id: 890007, from_date: "2013-01-01T02:00:00+0530" }), status: 202, detail: "" },
      { name: "CSV with LF and CRLF mixed", type: csv, body: `${CSV_HEADER}\r\n${row(890008)}\n${row(890009)}\r\n`, status: 202, detail: "" },
      { name: "a to_date before from_date (taken, with a warning)", body: one({ id: 890010, to_date: "2013-01-01T00:00:00+05:30" }), status: 202, detail: "" },
    ];
    for (const c of odd) {
      const answer = await send(c);
      expect({ name: c.name, status: answer.status }).toEqual({ name: c.name, status: 202 });
      const warned = c.name.includes("with a warning");
      expect({ name: c.name, warnings: answer.body.warnings.map((w: { warnings: { path: string }[] }) => w.warnings[0].path) }).toEqual({ name: c.name, warnings: warned ? ["to_date"] : [] });
      expect((await waitForJob(service.url, answer.body.job_id, 15_000, auth(READER))).status).toBe("done");
    }
    const stored = await db.pool.query("SELECT count(*)::int AS n FROM rides WHERE id BETWEEN 890001 AND 890011");
    expect(stored.rows[0].n).toBe(11);
    expect((await db.pool.query("SELECT user_id FROM rides WHERE id = 890006")).rows).toEqual([{ user_id: 12 }]);
  });

  it("takes the hostile but valid with the outcome each deserves: the largest id, one id twice", async () => {
    const largest = Number.MAX_SAFE_INTEGER;
    const row = (id: number, userId: number) => CSV_ROW.replace(/^\d+,\d+/, `${id},${userId}`);
    const taken: { name: string; type?: string; body: string; job: object; ride: { id: number; user_id: number } }[] = [
      // Once made every later chunk of the mover ~6x slower (test/mover/chunk-cost.test.ts proves the plan).
      { name: "the largest id a ride may have", body: one({ id: largest, user_id: 7 }), job: { accepted: 1, stored: 1, superseded: 0 }, ride: { id: largest, user_id: 7 } },
      {
        name: "one id twice in a JSON array",
        body: JSON.stringify([ride({ id: 890010, user_id: 1 }), ride({ id: 890010, user_id: 2 })]),
        job: { accepted: 2, stored: 1, superseded: 1 },
        ride: { id: 890010, user_id: 2 },
      },
      {
        name: "one id twice in CSV",
        type: csv,
        body: `${CSV_HEADER}\n${row(890011, 1)}\n${row(890011, 2)}\n`,
        job: { accepted: 2, stored: 1, superseded: 1 },
        ride: { id: 890011, user_id: 2 },
      },
    ];
    for (const c of taken) {
      const answer = await send({ ...c, status: 202, detail: "" });
      expect({ name: c.name, status: answer.status }).toEqual({ name: c.name, status: 202 });
      const job = await waitForJob(service.url, answer.body.job_id, 15_000, auth(READER));
      expect({ name: c.name, ...job }).toMatchObject({ name: c.name, status: "done", failed: 0, ...c.job });
      const stored = await fetch(`${service.url}/v1/rides/${c.ride.id}`, { headers: auth(READER) });
      expect({ name: c.name, ...((await stored.json()) as object) }).toMatchObject({ name: c.name, ...c.ride });
    }
  });

  it("caps what the quarantine keeps of a rejected ride, whatever the ride holds", async () => {
    const junk = (value: string) => JSON.stringify({ ...ride({ id: 890_200 }), junk: value });
    const quarantined: { name: string; type?: string; rejected: string; kept?: string; raw?: (raw: string) => boolean; truncated: boolean }[] = [
      { name: "a 60 KB ride", rejected: junk("x".repeat(60_000)), truncated: true },
      // Two-byte and four-byte characters (a surrogate pair in JavaScript) are never cut in half.
      { name: "a ride of two-byte characters", rejected: junk("é".repeat(20_000)), raw: (raw) => raw.endsWith("é"), truncated: true },
      { name: "a ride of emoji", rejected: junk("🚕".repeat(10_000)), raw: (raw) => raw.endsWith("🚕"), truncated: true },
      // PostgreSQL's text holds no NUL and no lone surrogate: each is kept as U+FFFD, never a 500.
      { name: "a JSON ride whose key is NUL", rejected: String.raw`{"id": 890201, "\u0000": "\u0000"}`, truncated: false },
      { name: "a CSV line holding a NUL byte", type: csv, rejected: CSV_ROW.replace(",22177,", ",a\u0000b,"), kept: CSV_ROW.replace(",22177,", ",a\ufffdb,"), truncated: false },
      { name: "a JSON ride whose key is a lone surrogate", rejected: String.raw`{"id": 890202, "\ud800": 1}`, truncated: false },
      { name: "a ride with 2,000 unknown keys of 20 characters", rejected: JSON.stringify(Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${String(i).padStart(19, "0")}`, 1]))), truncated: true },
      { name: "a ride with one key of 40,000 characters", rejected: JSON.stringify({ ...ride({ id: 890_203 }), ["k".repeat(40_000)]: 1 }), truncated: true },
    ];
    for (const c of quarantined) {
      const body = c.type === csv ? `${CSV_HEADER}\n${CSV_ROW}\n${c.rejected}\n` : `[${one({ id: 890_210 })}, ${c.rejected}]`;
      const answer = await send({ name: c.name, type: c.type, body, status: 202, detail: "" });
      expect({ name: c.name, status: answer.status, detail: answer.body.detail }).toEqual({ name: c.name, status: 202, detail: undefined });
      const { rows } = await db.pool.query(
        `SELECT raw, truncated, octet_length(raw) AS raw_bytes, jsonb_array_length(reasons) AS reasons, octet_length(reasons::text) AS reason_bytes
         FROM rejections WHERE job_id = $1`,
        [answer.body.job_id],
      );
      expect({ name: c.name, rows: rows.length, truncated: rows[0].truncated }).toEqual({ name: c.name, rows: 1, truncated: c.truncated });
      expect(rows[0].raw_bytes).toBeLessThanOrEqual(MAX_RAW_BYTES);
      expect(rows[0].reasons).toBeLessThanOrEqual(21);
      expect(rows[0].reason_bytes).toBeLessThanOrEqual(MAX_REASONS_BYTES);
      // Cut, the text is the start of what was sent, as many bytes as the cap holds (less at most one character).
      if (c.truncated) expect([rows[0].raw_bytes > MAX_RAW_BYTES - 4, c.rejected.startsWith(rows[0].raw)]).toEqual([true, true]);
      else expect(rows[0].raw).toBe(c.kept ?? c.rejected);
      if (c.raw) expect({ name: c.name, raw: c.raw(rows[0].raw) }).toEqual({ name: c.name, raw: true });
    }
    // The table refuses more than the cap, should any writer ever try.
    await expect(
      db.pool.query("INSERT INTO rejections (job_id, ride_index, reasons, raw, truncated) VALUES (1, 0, '[]', repeat('x', 8193), false)"),
    ).rejects.toThrow(/rejections_raw_check/);
  });

  it("logged no stack trace, SQL or key", () => {
    for (const line of logged) {
      expect(line).not.toMatch(LEAK);
      expect(line).not.toContain("abuse-test-");
    }
  });
});
