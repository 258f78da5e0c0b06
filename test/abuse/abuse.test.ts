import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { rawRequest } from "../support/raw-http.ts";
import { LEAK, postOversized, ride, SAMPLE_CSV, startTestService, waitForJob } from "../support/service.ts";

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
  { name: "id beyond 2^53", body: one({ id: 2 ** 63 }), status: 422, detail: invalid(1), error: { path: "id", message: /^must be at most 9007199254740991/ } },
  { name: "user_id beyond int4", body: one({ user_id: 2 ** 31 }), status: 422, detail: invalid(1), error: { path: "user_id", message: /^must be at most 2147483647/ } },
  { name: "a number too big for a double", body: one({}).replace('"from_lat":12.92415', '"from_lat":1e400'), status: 422, detail: invalid(1), error: { path: "from_lat", message: /finite/ } },
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
  // NDJSON
  { name: "an NDJSON line that is not JSON", type: ndjson, body: "{nope}\n", status: 422, detail: invalid(1), error: { path: "", message: /^line 1 is not valid JSON/ } },
  { name: "an NDJSON line nested deep", type: ndjson, body: `${"[".repeat(12)}${"]".repeat(12)}\n`, status: 422, detail: invalid(1), error: { path: "", message: "line 1 is not a ride: it nests arrays or objects more than 8 levels deep" } },
  { name: "a JSON array as NDJSON", type: ndjson, body: `[${one({})}]`, status: 422, detail: invalid(1), error: { path: "", message: "a ride must be a JSON object" } },
  // CSV
  { name: "a CSV header only", type: csv, body: `${CSV_HEADER}\n`, status: 400, detail: "the body holds no rides" },
  { name: "a CSV column missing", type: csv, body: `${CSV_HEADER.replace(",Car_Cancellation", "")}\n1,2\n`, status: 400, detail: "CSV header lacks car_cancellation" },
  { name: "a CSV column twice", type: csv, body: `${CSV_HEADER},id\n${CSV_ROW},1\n`, status: 400, detail: 'CSV column "id" appears twice' },
  { name: "an unknown CSV column", type: csv, body: `${CSV_HEADER},tip\n${CSV_ROW},5\n`, status: 400, detail: 'CSV column "tip" is not a ride field' },
  { name: "SQL as a CSV column", type: csv, body: `${CSV_HEADER},"x"";DROP TABLE rides;--"\n${CSV_ROW},1\n`, status: 400, detail: 'CSV column "x";drop table rides;--" is not a ride field' },
  { name: "a CSV row with too few fields", type: csv, body: `${CSV_HEADER}\n1,2,3\n`, status: 422, detail: invalid(1), error: { path: "", message: "row 2 has 3 fields, the header has 19" } },
  { name: "a CSV row with too many fields", type: csv, body: `${CSV_HEADER}\n${CSV_ROW},9\n`, status: 422, detail: invalid(1), error: { path: "", message: "row 2 has 20 fields, the header has 19" } },
  { name: "a CSV line over 4096 bytes", type: csv, body: `${CSV_HEADER}\n${CSV_ROW.replace("NULL", "9".repeat(5000))}\n`, status: 400, detail: "CSV line 2 is longer than 4096 bytes; a ride's line is far shorter" },
  { name: "an unclosed CSV quote", type: csv, body: `${CSV_HEADER}\n"${CSV_ROW}\n`, status: 400, detail: /^the body is not valid CSV: Quote Not Closed/ },
  { name: "30 February in CSV", type: csv, body: csvWith("from_date", "2/30/2013 10:00"), status: 422, detail: invalid(1), error: { path: "from_date", message: /2013-02-30T10:00/ } },
  { name: "NaN in a CSV cell", type: csv, body: csvWith("from_lat", "NaN"), status: 422, detail: invalid(1), error: { path: "from_lat", message: /^must be a number, got "NaN"/ } },
  { name: "SQL in a CSV cell", type: csv, body: csvWith("user_id", "1 OR 1=1"), status: 422, detail: invalid(1), error: { path: "user_id", message: /^must be a number, got "1 OR 1=1"/ } },
  { name: "a control character in a CSV cell", type: csv, body: csvWith("vehicle_model_id", "2\u00078"), status: 422, detail: invalid(1), error: { path: "vehicle_model_id", message: /^must be a number/ } },
  { name: "JSON sent as CSV", type: csv, body: one({}), status: 400, detail: /^the body is not valid CSV: Invalid Opening Quote: a quote is found on field 0 at line 1/ },
  { name: "CSV sent as JSON", body: SAMPLE_CSV, status: 400, detail: /^the body is not valid JSON: / },
  // Query and headers
  { name: "an unknown time zone", path: "/v1/rides?tz=Mars/Olympus", body: one({}), status: 400, detail: 'query parameter tz: "Mars/Olympus" is not an IANA time zone such as Asia/Kolkata' },
  { name: "SQL as a time zone", path: "/v1/rides?tz=UTC'%3B--", body: one({}), status: 400, detail: /^query parameter tz: "UTC';--" is not an IANA time zone/ },
  { name: "a bad wait", path: "/v1/rides?wait=forever", body: one({}), status: 400, detail: 'query parameter wait: must be "stored"' },
  { name: "an unknown query parameter", path: "/v1/rides?debug=1", body: one({}), status: 400, detail: "query parameter debug: is not a known parameter (tz, wait)" },
  { name: "an Idempotency-Key with a space", headers: { "idempotency-key": "a b" }, body: one({}), status: 400, detail: /^header Idempotency-Key: must be 1 to 255 printable ASCII/ },
  { name: "an Idempotency-Key of 300 characters", headers: { "idempotency-key": "k".repeat(300) }, body: one({}), status: 400, detail: /^header Idempotency-Key/ },
  // Other routes
  { name: "a job id that is a word", method: "GET", path: "/v1/jobs/abc", headers: auth(READER), status: 404, detail: "no job abc" },
  { name: "a job id with SQL", method: "GET", path: "/v1/jobs/1%20OR%201=1", headers: auth(READER), status: 404, detail: "no job 1 OR 1=1" },
  { name: "a job id past 2^53", method: "GET", path: "/v1/jobs/99999999999999999999", headers: auth(READER), status: 404, detail: "no job 99999999999999999999" },
  { name: "a ride id of -1", method: "GET", path: "/v1/rides/-1", headers: auth(READER), status: 404, detail: /^no stored ride -1/ },
  { name: "a job limit of 100000", method: "GET", path: "/v1/jobs?limit=100000", headers: auth(READER), status: 400, detail: "query parameter limit: must be at most 1000" },
  { name: "a job status with SQL", method: "GET", path: "/v1/jobs?status=done'--", headers: auth(READER), status: 400, detail: /^query parameter status: must be one of queued, done, failed, lost/ },
  { name: "a since that is not a time", method: "GET", path: "/v1/jobs?since=yesterday", headers: auth(READER), status: 400, detail: /^query parameter since: must be an ISO 8601 timestamp/ },
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
    ];
    for (const c of odd) {
      const answer = await send(c);
      expect({ name: c.name, status: answer.status }).toEqual({ name: c.name, status: 202 });
      expect((await waitForJob(service.url, answer.body.job_id, 15_000, auth(READER))).status).toBe("done");
    }
    const stored = await db.pool.query("SELECT count(*)::int AS n FROM rides WHERE id BETWEEN 890001 AND 890005");
    expect(stored.rows[0].n).toBe(5);
  });

  it("logged no stack trace, SQL or key", () => {
    for (const line of logged) {
      expect(line).not.toMatch(LEAK);
      expect(line).not.toContain("abuse-test-");
    }
  });
});
