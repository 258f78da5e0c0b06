import { describe, expect, it } from "vitest";
import { getJson, post, ride, SAMPLE_CSV, waitForJob, withTestService } from "../support/service.ts";
import { openTestStream } from "../support/stream.ts";

const ctx = withTestService();

const CSV_HEADER = SAMPLE_CSV.split("\n")[0].trim();
const CSV_ROW = SAMPLE_CSV.split("\n")[1].trim();
const rejections = async (jobId: number, query = "") => (await getJson(ctx.service.url, `/v1/jobs/${jobId}/rejections${query}`)).body;

describe("the quarantine", () => {
  it("keeps a JSON request's rejected rides with their reasons and their text as sent, once the 202 is answered", async () => {
    const bad = `{"id": 710002, "user_id": "seventeen",   "from_lat": 1e400}`;
    const body = `[${JSON.stringify(ride({ id: 710001 }))},\n ${bad}, {"id": 710003, "id": 710004}]`;
    const answer = await post(ctx.service.url, body, "application/json");
    expect(answer.status).toBe(202);
    expect(answer.body.rejected_count).toBe(2);

    const page = await rejections(answer.body.job_id);
    expect(page.next_cursor).toBeNull();
    expect(page.rejections).toHaveLength(2);
    const [first, second] = page.rejections;
    expect(first).toMatchObject({ job_id: answer.body.job_id, index: 1, ride_id: 710002, raw: bad, truncated: false });
    expect(first.reasons.map((r: { path: string }) => r.path)).toEqual(expect.arrayContaining(["user_id", "from_lat"]));
    expect(second).toMatchObject({ index: 2, raw: `{"id": 710003, "id": 710004}` });
    expect(second.reasons).toContainEqual({ path: "id", message: "appears more than once in the ride; send each field once" });
    expect(Date.parse(first.received_at)).toBeGreaterThan(0);
  });

  it("keeps a CSV request's rejected lines as they were, and an NDJSON request's lines", async () => {
    const badLine = CSV_ROW.replace(/^\d+,/, "720002,").replace(",22177,", ",x,");
    const csv = `${CSV_HEADER}\r\n${CSV_ROW.replace(/^\d+,/, "720001,")}\r\n${badLine}\r\n"unclosed,1\n`;
    const answer = await post(ctx.service.url, csv, "text/csv");
    expect(answer.status).toBe(202);
    const csvRejections = (await rejections(answer.body.job_id)).rejections;
    expect(csvRejections.map((r: { index: number; raw: string; ride_id: number | null }) => [r.index, r.raw, r.ride_id])).toEqual([
      [1, badLine, 720002],
      [2, `"unclosed,1`, null],
    ]);

    const broken = `{"id": 730002, "user_id": `;
    const ndjson = `${JSON.stringify(ride({ id: 730001 }))}\n${broken}\n\n${JSON.stringify(ride({ id: 730003, from_lat: 91 }))}\n`;
    const nd = await post(ctx.service.url, ndjson, "application/x-ndjson");
    expect(nd.status).toBe(202);
    const ndRejections = (await rejections(nd.body.job_id)).rejections;
    expect(ndRejections.map((r: { index: number; raw: string }) => [r.index, r.raw])).toEqual([
      [1, broken],
      [2, JSON.stringify(ride({ id: 730003, from_lat: 91 }))],
    ]);
    expect(ndRejections[1].reasons).toEqual([{ path: "from_lat", message: expect.any(String) }]);
  });

  it("keeps a stream frame's rejected rides as their JSON", async () => {
    const stream = await openTestStream(ctx.service.url);
    const bad = ride({ id: 740002, vehicle_model_id: -1 });
    stream.send({ seq: 1, rides: [ride({ id: 740001 }), bad] });
    await stream.until((messages) => messages.some((m) => m.seq === 1));
    const ack = stream.acks()[0];
    stream.ws.close();
    const kept = (await rejections(ack.job_id)).rejections;
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ index: 1, ride_id: 740002, truncated: false });
    expect(JSON.parse(kept[0].raw)).toEqual(bad);
  });

  it("keeps nothing for a 422: nothing was taken", async () => {
    const before = (await ctx.db.pool.query("SELECT count(*)::int AS n FROM rejections")).rows[0].n;
    const answer = await post(ctx.service.url, JSON.stringify([{ id: 750001 }, { id: 750002 }]), "application/json");
    expect(answer.status).toBe(422);
    expect((await ctx.db.pool.query("SELECT count(*)::int AS n FROM rejections")).rows[0].n).toBe(before);
  });

  it("keeps every rejected ride of a large request, past the answer's list, paged in order", async () => {
    const rides = Array.from({ length: 250 }, (_, i) => (i === 0 ? ride({ id: 760000 }) : { id: 760000 + i, user_id: "no" }));
    const answer = await post(ctx.service.url, JSON.stringify(rides), "application/json");
    expect(answer.status).toBe(202);
    expect(answer.body.rejected).toHaveLength(100);
    expect(answer.body.rejected_count).toBe(249);
    const seen: number[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page: any = await rejections(answer.body.job_id, `?limit=100${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.rejections.map((r: { index: number }) => r.index));
      cursor = page.next_cursor;
    }
    expect(seen).toEqual(Array.from({ length: 249 }, (_, i) => i + 1));
  });

  it("lists every job's rejections newest first, by field and time, with cursor paging", async () => {
    const first = await post(ctx.service.url, JSON.stringify([ride({ id: 770001 }), ride({ id: 770002, from_lat: 95 }), ride({ id: 770003, to_lat: 95 })]), "application/json");
    const second = await post(ctx.service.url, JSON.stringify([ride({ id: 770004 }), ride({ id: 770005, from_lat: 99 })]), "application/json");
    const since = new Date(Date.parse(first.body.received_at ?? new Date().toISOString()) - 60_000).toISOString();
    const byField = (await getJson(ctx.service.url, `/v1/rejections?field=from_lat&limit=2`)).body;
    expect(byField.rejections.map((r: { ride_id: number }) => r.ride_id)).toEqual([770005, 770002]);
    expect(byField.next_cursor).toBe(`${first.body.job_id}.1`);
    const next = (await getJson(ctx.service.url, `/v1/rejections?field=from_lat&limit=2&cursor=${byField.next_cursor}`)).body;
    expect(next.rejections.every((r: { job_id: number }) => r.job_id < first.body.job_id)).toBe(true);

    const recent = (await getJson(ctx.service.url, `/v1/rejections?since=${encodeURIComponent(since)}&limit=1000`)).body;
    const ids = recent.rejections.map((r: { ride_id: number }) => r.ride_id);
    expect(ids.slice(0, 3)).toEqual([770005, 770003, 770002]);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await getJson(ctx.service.url, `/v1/rejections?since=${encodeURIComponent(future)}`)).body.rejections).toEqual([]);
    const past = "2020-01-01T00:00:00Z";
    expect((await getJson(ctx.service.url, `/v1/rejections?until=${encodeURIComponent(past)}`)).body.rejections).toEqual([]);
    expect(second.status).toBe(202);
  });

  it("answers a bad query, an unknown job and a bad cursor with a problem naming it", async () => {
    const bad = await getJson(ctx.service.url, "/v1/rejections?cursor=abc");
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/cursor/);
    expect((await getJson(ctx.service.url, "/v1/rejections?limit=1001")).status).toBe(400);
    expect((await getJson(ctx.service.url, "/v1/jobs/987654/rejections")).status).toBe(404);
  });

  it("counts the kept rides in /metrics by the field a reason names", async () => {
    await post(ctx.service.url, JSON.stringify([ride({ id: 780001 }), ride({ id: 780002, from_long: 500 }), { ...ride({ id: 780003 }), colour: "red" }]), "application/json");
    const text = await (await fetch(`${ctx.service.url}/metrics`)).text();
    expect(text).toMatch(/rides_quarantined_total\{field="from_long"\} [1-9]/);
    expect(text).toMatch(/rides_quarantined_total\{field="\(unknown fields\)"\} [1-9]/);
    expect(text).not.toMatch(/field="colour"/);
  });
});

describe("a job after its answer", () => {
  it("is done with its valid rides stored, its rejections still there", async () => {
    const answer = await post(ctx.service.url, JSON.stringify([ride({ id: 790001 }), ride({ id: 790002, user_id: null })]), "application/json");
    const job = await waitForJob(ctx.service.url, answer.body.job_id);
    expect(job).toMatchObject({ status: "done", stored: 1, attempts: 1 });
    expect((await rejections(answer.body.job_id)).rejections).toHaveLength(1);
  });
});
