import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { startService } from "../../src/service.ts";
import { getJson, post, ride, SAMPLE_CSV, startTestService, waitForJob, withTestService } from "../support/service.ts";

const context = withTestService();

/** A POST whose headers may repeat (fetch joins a repeated header into one line; node:http sends each). */
function postWithHeaders(url: string, headers: Record<string, string | string[]>, body: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/rides`, { method: "POST", headers: { ...headers, "content-length": Buffer.byteLength(body) } });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("answers stay small", () => {
  it("answers 10,000 `{}` (30 KB) with the first 100 rejected rides in full and counts of the rest", async () => {
    const body = `[${Array(10_000).fill("{}").join(",")}]`;
    const response = await fetch(`${context.service.url}/v1/rides`, { method: "POST", headers: { "content-type": "application/json" }, body });
    const text = await response.text();
    expect(response.status).toBe(422);
    // It was 4.7 MB.
    expect(text.length).toBeLessThan(100_000);
    const problem = JSON.parse(text);
    expect(problem.rejected).toHaveLength(100);
    expect(problem).toMatchObject({ accepted: 0, rejected_count: 10_000, rejected_unlisted: { rides: 9900, by_field: { id: 9900, travel_type_id: 9900 } } });
  });

  it("caps the rejected list of a 202 the same way, and reports the sample's warnings", async () => {
    const rides = [...Array.from({ length: 150 }, (_, i) => ride({ id: 700_000 + i, online_booking: 2 })), ride({ id: 700_500 })];
    const mixed = await post(context.service.url, JSON.stringify(rides), "application/json");
    expect(mixed.status).toBe(202);
    expect(mixed.body).toMatchObject({ accepted: 1, rejected_count: 150, rejected_unlisted: { rides: 50, by_field: { online_booking: 50 } }, warnings: [], warnings_count: 0 });
    expect(mixed.body.rejected).toHaveLength(100);

    const sample = await post(context.service.url, SAMPLE_CSV, "text/csv");
    expect(sample.status).toBe(202);
    expect(sample.body).toMatchObject({ accepted: 200, rejected: [], warnings_count: 9 });
    expect(sample.body.warnings[0]).toEqual({ index: 24, id: 132539, warnings: [{ path: "to_date", message: expect.stringMatching(/is before from_date .*; stored as sent/) }] });
    expect((await waitForJob(context.service.url, sample.body.job_id)).stored).toBe(200);
  });
});

describe("one Content-Type (RFC 9110)", () => {
  const csv = SAMPLE_CSV.split("\n").slice(0, 2).join("\n").replace("132512,", "710001,");

  it("answers 400 to Content-Type sent twice, which was read as the first type's", async () => {
    const twice = await postWithHeaders(context.service.url, { "content-type": ["text/csv; charset=utf-8", "application/json"] }, csv);
    expect(twice).toEqual({ status: 400, body: expect.objectContaining({ detail: 'header Content-Type: "text/csv; charset=utf-8, application/json" is not one media type (was it sent twice?)' }) });
    expect((await postWithHeaders(context.service.url, { "content-type": "text/csv" }, csv)).status).toBe(202);
  });

  it("answers 415 to a charset other than UTF-8, which was decoded as UTF-8 anyway", async () => {
    const latin1 = await post(context.service.url, csv, "text/csv; charset=iso-8859-1");
    expect(latin1).toMatchObject({ status: 415, body: { detail: "Content-Type charset=iso-8859-1: bodies are read as UTF-8 only" } });
    expect((await post(context.service.url, csv.replace("710001,", "710002,"), 'text/csv; charset="UTF-8"')).status).toBe(202);
  });
});

describe("zones and dates both sides know", () => {
  it("answers 400 to a zone Node knows and PostgreSQL does not, and to an impossible since", async () => {
    const zone = await post(context.service.url, JSON.stringify(ride()), "application/json", "/v1/rides?tz=US/Pacific-New");
    expect(zone).toMatchObject({ status: 400, body: { detail: 'query parameter tz: "US/Pacific-New" is not an IANA time zone such as Asia/Kolkata' } });
    const since = await getJson(context.service.url, "/v1/jobs?since=2026-02-30T00:00:00Z");
    expect(since).toMatchObject({ status: 400, body: { detail: 'query parameter since: must be an ISO 8601 timestamp with offset, e.g. 2026-01-01T00:00:00Z: "2026-02-30T00:00:00Z" is not a real calendar date and time' } });
    const until = await getJson(context.service.url, "/dashboard/stats?until=2026-02-30T00:00:00Z");
    expect(until).toMatchObject({ status: 400, body: { detail: expect.stringMatching(/^query parameter until: .*"2026-02-30T00:00:00Z" is not a real calendar date/) } });
    expect((await getJson(context.service.url, "/v1/jobs?since=2026-02-28T00:00:00%2B05:30")).status).toBe(200);
  });

  it("refuses to start with a RIDES_TIME_ZONE PostgreSQL does not know", async () => {
    // The config check alone cannot tell: Node's Intl takes the zone.
    const config = { ...loadConfig({ PORT: "0" }), timeZone: "US/Pacific-New", databaseUrl: context.db.url };
    await expect(startService(config)).rejects.toThrow(
      "RIDES_TIME_ZONE=US/Pacific-New is not a time zone this PostgreSQL knows",
    );
  });
});

describe("travel types are data", () => {
  it("takes a new type once a migration adds its row and the service starts again", async () => {
    const fourth = JSON.stringify(ride({ id: 720_001, travel_type_id: 4 }));
    const before = await post(context.service.url, fourth, "application/json");
    expect(before.body.rejected[0].errors).toEqual([{ path: "travel_type_id", message: "4 is not a travel type (1 long distance, 2 point to point, 3 hourly rental)" }]);

    // What a migration adding the type would do.
    await context.db.pool.query("INSERT INTO travel_types (id, name, always_null) VALUES (4, 'airport transfer', '{package_id}')");
    await context.service.stop();
    context.service = await startTestService(context.db.url);
    const after = await post(context.service.url, fourth, "application/json");
    expect(after.status).toBe(202);
    expect((await waitForJob(context.service.url, after.body.job_id)).stored).toBe(1);
    const withPackage = await post(context.service.url, JSON.stringify(ride({ id: 720_002, travel_type_id: 4, package_id: 1 })), "application/json");
    expect(withPackage.body.rejected[0].errors).toEqual([{ path: "package_id", message: "must be null for travel_type_id 4 (airport transfer), got 1" }]);
  });
});
