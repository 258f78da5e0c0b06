import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { getJson, post, postOversized, ride, SAMPLE_CSV, startTestService, waitForJob } from "../support/service.ts";

let db: TestDatabase;
let service: Service;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url, { BODY_LIMIT_BYTES: "65536" });
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

const storedCount = async (ids: number[]) =>
  (await db.pool.query("SELECT count(*)::int AS n FROM rides WHERE id = ANY($1)", [ids])).rows[0].n;

describe("the producer's CSV sample", () => {
  it("stores all 200 rides, field by field, in 2013 partitions", async () => {
    const accepted = await post(service.url, SAMPLE_CSV, "text/csv");
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ status: "queued", accepted: 200, rejected: [] });
    expect(accepted.headers.get("location")).toBe(`/v1/jobs/${accepted.body.job_id}`);

    const job = await waitForJob(service.url, accepted.body.job_id);
    expect(job).toMatchObject({ status: "done", accepted: 200, stored: 200, failed: 0, error: null });
    expect(Date.parse(job.finished_at)).toBeGreaterThanOrEqual(Date.parse(job.received_at));

    const ids = SAMPLE_CSV.trim().split("\n").slice(1).map((line) => Number(line.split(",")[0]));
    expect(await storedCount(ids)).toBe(200);

    // 132512,22177,28,NULL,2,83,448,NULL,NULL,1/1/2013 2:00,NULL,0,0,1/1/2013 1:39,12.92415,77.67229,12.92732,77.63575,0
    expect((await getJson(service.url, "/v1/rides/132512")).body).toEqual({
      id: 132512, user_id: 22177, vehicle_model_id: 28, package_id: null, travel_type_id: 2,
      from_area_id: 83, to_area_id: 448, from_city_id: null, to_city_id: null,
      from_date: "2012-12-31T20:30:00.000Z", to_date: null, online_booking: false, mobile_site_booking: false,
      booking_created: "2012-12-31T20:09:00.000Z", from_lat: 12.92415, from_long: 77.67229,
      to_lat: 12.92732, to_long: 77.63575, car_cancellation: false,
    });
    // 132531,22189,24,NULL,1,1383,NULL,NULL,32,1/12/2013 8:00,1/14/2013 0:00,1,0,1/1/2013 12:17,12.930451,77.685822,NULL,NULL,0
    expect((await getJson(service.url, "/v1/rides/132531")).body).toEqual({
      id: 132531, user_id: 22189, vehicle_model_id: 24, package_id: null, travel_type_id: 1,
      from_area_id: 1383, to_area_id: null, from_city_id: null, to_city_id: 32,
      from_date: "2013-01-12T02:30:00.000Z", to_date: "2013-01-13T18:30:00.000Z", online_booking: true,
      mobile_site_booking: false, booking_created: "2013-01-01T06:47:00.000Z", from_lat: 12.930451,
      from_long: 77.685822, to_lat: null, to_long: null, car_cancellation: false,
    });
    // 132521,22182,65,2,3,448,NULL,NULL,NULL,1/1/2013 16:00,NULL,0,0,1/1/2013 9:44,12.92732,77.63575,NULL,NULL,0
    expect((await getJson(service.url, "/v1/rides/132521")).body).toMatchObject({
      package_id: 2, travel_type_id: 3, to_area_id: null, to_lat: null, to_long: null,
      from_date: "2013-01-01T10:30:00.000Z",
    });
    // 132536,16,28,NULL,2,58,1063,NULL,NULL,1/1/2013 18:30,NULL,1,0,1/1/2013 13:40,...,1
    expect((await getJson(service.url, "/v1/rides/132536")).body).toMatchObject({ online_booking: true, car_cancellation: true });

    const partitions = await db.pool.query<{ name: string }>(
      "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'rides'::regclass ORDER BY 1",
    );
    expect(partitions.rows.map((p) => p.name)).toEqual(["rides_2013_01"]);
  });

  it("reads CSV times in ?tz= when given", async () => {
    const csv = SAMPLE_CSV.split("\n").slice(0, 2).join("\n").replace("132512,", "800001,");
    const { body } = await post(service.url, csv, "text/csv");
    expect((await waitForJob(service.url, body.job_id)).status).toBe("done");
    expect((await getJson(service.url, "/v1/rides/800001")).body.from_date).toBe("2012-12-31T20:30:00.000Z");

    const utc = await post(`${service.url}/v1/rides?tz=UTC`, csv.replace("800001,", "800002,"), "text/csv", "");
    expect((await waitForJob(service.url, utc.body.job_id)).status).toBe("done");
    expect((await getJson(service.url, "/v1/rides/800002")).body.from_date).toBe("2013-01-01T02:00:00.000Z");
  });
});

describe("content types", () => {
  it("takes one JSON ride", async () => {
    const { status, body } = await post(service.url, JSON.stringify(ride({ id: 700001 })), "application/json");
    expect(status).toBe(202);
    expect(body.accepted).toBe(1);
    expect((await waitForJob(service.url, body.job_id)).status).toBe("done");
    expect((await getJson(service.url, "/v1/rides/700001")).body).toEqual({
      ...ride({ id: 700001 }),
      from_date: "2012-12-31T20:30:00.000Z",
      booking_created: "2012-12-31T20:09:00.000Z",
    });
  });

  it("takes a JSON array and NDJSON (with a charset parameter)", async () => {
    const array = await post(service.url, JSON.stringify([ride({ id: 700002 }), ride({ id: 700003 })]), "application/json; charset=utf-8");
    const ndjson = await post(
      service.url,
      `${JSON.stringify(ride({ id: 700004 }))}\r\n\n${JSON.stringify(ride({ id: 700005 }))}\n`,
      "application/x-ndjson",
    );
    expect([array.status, array.body.accepted, ndjson.status, ndjson.body.accepted]).toEqual([202, 2, 202, 2]);
    await waitForJob(service.url, array.body.job_id);
    await waitForJob(service.url, ndjson.body.job_id);
    expect(await storedCount([700002, 700003, 700004, 700005])).toBe(4);
  });
});

describe("partial and total rejection", () => {
  it("accepts the valid rides and names every rejected one", async () => {
    const { status, body } = await post(
      service.url,
      JSON.stringify([ride({ id: 710001 }), ride({ id: 710002, from_long: 200 }), ride({ id: 710003 }), ride({ id: 710004, from_date: "2/30/2013 1:00" })]),
      "application/json",
    );
    expect(status).toBe(202);
    expect(body.accepted).toBe(2);
    expect(body.rejected).toEqual([
      { index: 1, id: 710002, errors: [{ path: "from_long", message: expect.stringMatching(/between -180 and 180/) }] },
      { index: 3, id: 710004, errors: [{ path: "from_date", message: expect.stringMatching(/ISO 8601/) }] },
    ]);
    const job = await waitForJob(service.url, body.job_id);
    expect(job).toMatchObject({ status: "done", accepted: 2, stored: 2 });
    expect(await storedCount([710001, 710002, 710003, 710004])).toBe(2);
  });

  it("rejects CSV rows one by one: an impossible date, a short row", async () => {
    const [header, first, second] = SAMPLE_CSV.split("\n");
    const bad = first.replace("1/1/2013 2:00", "2/30/2013 2:00");
    const short = second.split(",").slice(0, 5).join(",");
    const { status, body } = await post(service.url, [header, bad, short, SAMPLE_CSV.split("\n")[3]].join("\n"), "text/csv");
    expect(status).toBe(202);
    expect(body.accepted).toBe(1);
    expect(body.rejected).toEqual([
      { index: 0, id: 132512, errors: [{ path: "from_date", message: expect.stringMatching(/not a real calendar date/) }] },
      { index: 1, id: 132513, errors: [{ path: "", message: "line 3 has 5 fields, the header has 19" }] },
    ]);
  });

  it("answers 422 with every reason when no ride is valid, and stages nothing", async () => {
    const before = (await db.pool.query("SELECT count(*)::int AS n FROM jobs")).rows[0].n;
    const response = await fetch(`${service.url}/v1/rides`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([ride({ id: -1 }), { id: 5 }]),
    });
    expect(response.status).toBe(422);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const problem = await response.json();
    expect(problem).toMatchObject({ status: 422, title: "Unprocessable Content", accepted: 0 });
    expect(problem.rejected).toHaveLength(2);
    expect(problem.rejected[0].errors).toEqual([{ path: "id", message: "must be at least 1, got -1" }]);
    expect(problem.rejected[1].errors.map((e: { path: string }) => e.path)).toContain("user_id");
    expect((await db.pool.query("SELECT count(*)::int AS n FROM jobs")).rows[0].n).toBe(before);
  });
});

describe("malformed requests", () => {
  const cases: [string, string, string, number, RegExp][] = [
    ["truncated JSON", '[{"id": 1', "application/json", 400, /not valid JSON/],
    ["a JSON scalar", "42", "application/json", 400, /ride object or an array/],
    ["an empty body", "", "application/json", 400, /not valid JSON/],
    ["an empty array", "[]", "application/json", 400, /no rides/],
    ["an empty NDJSON body", "\n\n", "application/x-ndjson", 400, /no rides/],
    ["a CSV header with an unknown column", "id,nope\n1,2", "text/csv", 400, /"nope" is not a ride field/],
    ["a CSV header missing columns", "id,user_id\n1,2", "text/csv", 400, /lacks vehicle_model_id/],
    ["an unsupported type", "<ride/>", "application/xml", 415, /Content-Type must be one of/],
  ];
  for (const [name, body, type, status, detail] of cases) {
    it(`answers ${status} to ${name}`, async () => {
      const response = await fetch(`${service.url}/v1/rides`, { method: "POST", headers: { "content-type": type }, body });
      expect(response.status).toBe(status);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      const problem = await response.json();
      expect(problem.status).toBe(status);
      expect(problem.detail).toMatch(detail);
    });
  }

  it("answers 400 to a bad tz and to invalid UTF-8", async () => {
    const tz = await post(`${service.url}/v1/rides?tz=Mars/Olympus`, JSON.stringify(ride()), "application/json", "");
    expect([tz.status, tz.body.detail]).toEqual([400, expect.stringMatching(/query parameter tz: "Mars\/Olympus" is not an IANA/)]);
    const bytes = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
    const response = await fetch(`${service.url}/v1/rides`, { method: "POST", headers: { "content-type": "application/json" }, body: bytes });
    expect(response.status).toBe(400);
    expect((await response.json()).detail).toMatch(/UTF-8/);
  });

  it("answers 413 to a body over the limit", async () => {
    const { status, body } = await postOversized(service.url, "/v1/rides", { "content-type": "application/json" }, 65537);
    expect(status).toBe(413);
    expect(body.detail).toMatch(/larger than 65536 bytes/);
  });

  it("answers 413 to a chunked body (no Content-Length) once it grows over the limit", async () => {
    const big = JSON.stringify(Array.from({ length: 400 }, (_, i) => ride({ id: 1_000_000 + i })));
    const chunked = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const response = await fetch(`${service.url}/v1/rides`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chunked,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect((await response.json()).detail).toMatch(/larger than 65536 bytes/);
  });
});

describe("resending", () => {
  it("replaces a ride instead of storing it twice, across requests and within one", async () => {
    const first = await post(service.url, JSON.stringify(ride({ id: 720001 })), "application/json");
    await waitForJob(service.url, first.body.job_id);
    const again = await post(
      service.url,
      JSON.stringify([ride({ id: 720001, car_cancellation: true }), ride({ id: 720002 }), ride({ id: 720002, user_id: 5 })]),
      "application/json",
    );
    expect((await waitForJob(service.url, again.body.job_id)).status).toBe("done");
    const rows = await db.pool.query("SELECT id, car_cancellation, user_id FROM rides WHERE id IN (720001, 720002) ORDER BY id");
    expect(rows.rows).toEqual([
      { id: 720001, car_cancellation: true, user_id: 22177 },
      { id: 720002, car_cancellation: false, user_id: 5 },
    ]);
  });

  it("keeps one row when a resend moves the ride to another month", async () => {
    const first = await post(service.url, JSON.stringify(ride({ id: 720003 })), "application/json");
    await waitForJob(service.url, first.body.job_id);
    const moved = await post(service.url, JSON.stringify(ride({ id: 720003, from_date: "2013-03-05T10:00:00+05:30" })), "application/json");
    await waitForJob(service.url, moved.body.job_id);
    const rows = await db.pool.query("SELECT tableoid::regclass::text AS partition FROM rides WHERE id = 720003");
    expect(rows.rows).toEqual([{ partition: "rides_2013_03" }]);
  });
});

describe("lookups", () => {
  it("answers 404 problems for unknown jobs, rides and routes", async () => {
    for (const path of ["/v1/jobs/999999999", "/v1/jobs/abc", "/v1/rides/999999999", "/v1/rides/1e3", "/v1/nothing"]) {
      const { status, headers, body } = await getJson(service.url, path);
      expect([path, status, headers.get("content-type")]).toEqual([path, 404, "application/problem+json"]);
      expect(body.detail).toBeTruthy();
    }
  });

  it("reports health and readiness", async () => {
    expect((await getJson(service.url, "/healthz")).status).toBe(200);
    const ready = await getJson(service.url, "/readyz");
    expect(ready).toMatchObject({ status: 200, body: { status: "ready", checks: { database: true, migrations: true, workers: true } } });
  });
});
