import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { holdMover } from "../support/locks.ts";
import { getJson, post, ride, startTestService } from "../support/service.ts";
import { openTestStream } from "../support/stream.ts";

let db: TestDatabase;
let service: Service;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url, { MAX_RIDES_PER_REQUEST: "20" });
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

const storedCount = async (ids: number[]) =>
  (await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM rides WHERE id = ANY($1)", [ids])).rows[0].n;

describe("GET /v1/rides/stream", () => {
  it("takes 10,000 rides in one-ride frames: acks in frame order, each job committed when its ack arrives, then done for each", async () => {
    const stream = await openTestStream(service.url);
    const ids = Array.from({ length: 10_000 }, (_, i) => 1_000_000 + i);
    // Started the moment each ack arrives: a job the ack promised must already be in jobs.
    const present: Promise<boolean>[] = [];
    stream.ws.on("message", (data: Buffer) => {
      const message = JSON.parse(data.toString("utf8"));
      if ("job_id" in message && "seq" in message) {
        present.push(db.pool.query("SELECT 1 FROM jobs WHERE id = $1", [message.job_id]).then((result) => result.rowCount === 1));
      }
    });
    ids.forEach((id, seq) => stream.send({ seq, rides: [ride({ id })] }));
    await stream.until(() => stream.acks().length === ids.length, 60_000);

    const acks = stream.acks();
    expect(stream.refusals()).toEqual([]);
    expect(acks.map((ack) => ack.seq)).toEqual(ids.map((_, seq) => seq));
    for (const ack of acks) expect(ack).toMatchObject({ accepted: 1, rejected: [] });
    // Job ids follow frame order: the mover's "latest send wins" goes by them.
    expect(acks.every((ack, i) => i === 0 || ack.job_id > acks[i - 1].job_id)).toBe(true);
    expect((await Promise.all(present)).every(Boolean)).toBe(true);

    // Every job then reaches done, told on the stream (no polling), after its ack.
    await stream.until(() => stream.jobs().length === ids.length, 60_000);
    expect(stream.jobs().every((job) => job.status === "done" && job.stored === 1 && job.accepted === 1)).toBe(true);
    const position = new Map<number, number>();
    stream.messages.forEach((m, i) => "seq" in m && position.set(m.job_id, i));
    stream.messages.forEach((m, i) => !("seq" in m) && expect(i).toBeGreaterThan(position.get(m.job_id)!));
    expect(new Set(stream.jobs().map((job) => job.job_id))).toEqual(new Set(acks.map((ack) => ack.job_id)));
    expect(await storedCount(ids)).toBe(ids.length);
    stream.ws.close(1000);
    expect((await stream.closed).code).toBe(1000);
  });

  it("stores the ride of the latest frame when frames in a row send the same ride", async () => {
    const stream = await openTestStream(service.url);
    for (let seq = 0; seq < 300; seq++) stream.send({ seq, rides: [ride({ id: 2_050_001, user_id: seq + 1 })] });
    await stream.until(() => stream.jobs().length === 300, 60_000);
    expect((await getJson(service.url, "/v1/rides/2050001")).body.user_id).toBe(300);
    stream.ws.close(1000);
  });

  it("acknowledges a frame's valid rides and names each rejected ride with its reasons", async () => {
    const stream = await openTestStream(service.url);
    stream.send({ seq: 7, rides: [ride({ id: 2_000_001 }), ride({ id: 2_000_002, from_lat: 95 }), { id: 2_000_003 }] });
    await stream.until(() => stream.acks().length === 1);
    const [ack] = stream.acks();
    expect(ack).toMatchObject({ seq: 7, accepted: 1 });
    expect(ack.rejected[0]).toEqual({ index: 1, id: 2_000_002, errors: [{ path: "from_lat", message: "must be between -90 and 90, got 95" }] });
    expect(ack.rejected[1]).toMatchObject({ index: 2, id: 2_000_003, errors: expect.arrayContaining([{ path: "user_id", message: "is required" }]) });
    expect((await getJson(service.url, `/v1/jobs/${ack.job_id}`)).body).toMatchObject({ job_id: ack.job_id, accepted: 1 });
    await stream.until(() => stream.jobs().length === 1);
    expect(stream.jobs()[0]).toMatchObject({ job_id: ack.job_id, status: "done", stored: 1 });
    stream.ws.close();
  });

  it("reads a frame's rides as a POST body's: a key sent twice or a number that would lose its value rejects the ride with the same reasons", async () => {
    const valid = JSON.stringify(ride({ id: 2_060_001 }));
    const rides = [
      valid,
      JSON.stringify(ride({ id: 2_060_002 })).replace("{", '{"user_id":1,'),
      JSON.stringify(ride({ id: 2_060_003 })).replace(/"from_lat":[\d.]+/, '"from_lat":12.1,"from_lat":12.2'),
      JSON.stringify(ride({ id: 2_060_004 })).replace(/"user_id":\d+/, '"user_id":0.99999999999999999'),
      JSON.stringify(ride({ id: 2_060_005 })).replace(/"vehicle_model_id":\d+/, '"vehicle_model_id":1e400'),
      JSON.stringify(ride({ id: 2_060_006 })).replace('"id":2060006', '"id":9007199254740993'),
    ];
    const body = `[${rides.join(",")}]`;
    const posted = await post(service.url, body, "application/json");
    expect(posted.status).toBe(202);
    expect(posted.body.rejected).toHaveLength(5);

    const stream = await openTestStream(service.url);
    stream.send(`{"seq":1,"rides":${body}}`);
    await stream.until(() => stream.acks().length === 1);
    const [ack] = stream.acks();
    expect(ack).toMatchObject({ seq: 1, accepted: 1 });
    expect(ack.rejected).toEqual(posted.body.rejected);
    expect(ack.rejected.map((r: { errors: { path: string }[] }) => r.errors[0].path)).toEqual(["user_id", "from_lat", "user_id", "vehicle_model_id", "id"]);
    stream.ws.close(1000);
  });

  it("answers a frame over BODY_LIMIT_BYTES with a 413 in its place and goes on; closes one over twice the limit with 1009 and its reason", async () => {
    const small = await startTestService(db.url, { BODY_LIMIT_BYTES: "4096" });
    try {
      const stream = await openTestStream(small.url);
      stream.send({ seq: 1, rides: [ride({ id: 2_070_001 })] });
      stream.send({ seq: 2, rides: Array.from({ length: 15 }, (_, i) => ride({ id: 2_070_100 + i })) });
      stream.send({ seq: 3, rides: [ride({ id: 2_070_003 })] });
      await stream.until((messages) => messages.filter((m) => "seq" in m).length === 3);
      expect(stream.messages.filter((m) => "seq" in m).map((m) => [m.seq, m.error?.status ?? "ack"])).toEqual([[1, "ack"], [2, 413], [3, "ack"]]);
      expect(stream.refusals()[0].error.detail).toBe("the frame is larger than 4096 bytes (BODY_LIMIT_BYTES); split its rides over more frames");
      expect(await storedCount([2_070_100])).toBe(0);

      stream.send({ seq: 4, rides: Array.from({ length: 30 }, (_, i) => ride({ id: 2_070_200 + i })) });
      expect(await stream.closed).toEqual({ code: 1009, reason: "a frame over 8192 bytes is not read; a frame holds at most BODY_LIMIT_BYTES (4096)" });
      expect(small.memoryBudget.reserved()).toBe(0);
    } finally {
      await small.stop();
    }
  });

  it("answers a frame it does not take with an error frame in its place and goes on", async () => {
    const stream = await openTestStream(service.url);
    const frames = [
      { seq: 1, rides: [ride({ id: 2_100_001, id_extra: 1 })] },
      { seq: 2, rides: [ride({ id: 2_100_002 })] },
      { seq: 3, rides: Array.from({ length: 21 }, (_, i) => ride({ id: 2_100_100 + i })) },
      { seq: 4, rides: [] },
      { seq: 5, rides: "everything" },
      { seq: 6, rides: [ride({ id: 2_100_006 })], priority: "high" },
      { seq: 8, rides: [ride({ id: 2_100_008 })] },
    ];
    for (const frame of frames) stream.send(frame);
    await stream.until((messages) => messages.filter((m) => "seq" in m).length === frames.length);
    const answers = stream.messages.filter((m) => "seq" in m);
    expect(answers.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 8]);
    const problem = (status: number, detail: string | RegExp) => ({
      error: expect.objectContaining({ type: "about:blank", status, detail, instance: "/v1/rides/stream", request_id: expect.any(String) }),
    });
    expect(answers[0]).toMatchObject({ ...problem(422, "none of the 1 rides is valid; nothing was accepted"), seq: 1 });
    expect(answers[0].error.rejected[0].errors[0]).toMatchObject({ path: "id_extra", message: expect.stringMatching(/^is not a ride field/) });
    expect(answers[1]).toMatchObject({ seq: 2, accepted: 1 });
    expect(answers[2]).toMatchObject(problem(413, "the body holds 21 rides; at most 20 are taken per request"));
    expect(answers[3]).toMatchObject(problem(400, "the body holds no rides"));
    expect(answers[4]).toMatchObject(problem(400, 'frame field "rides": must be an array of rides'));
    expect(answers[5]).toMatchObject(problem(400, 'frame field "priority": is not a known field (seq, rides)'));
    expect(answers[6]).toMatchObject({ seq: 8, accepted: 1 });
    expect(await storedCount([2_100_001, 2_100_100, 2_100_006])).toBe(0);
    stream.ws.close();
  });

  it("reads times without an offset in ?tz= of the upgrade", async () => {
    const stream = await openTestStream(service.url, { query: "?tz=UTC" });
    stream.send({ seq: 1, rides: [ride({ id: 2_200_001, from_date: "2013-01-01T02:00", booking_created: "2013-01-01T01:39" })] });
    await stream.until(() => stream.jobs().length === 1);
    expect((await getJson(service.url, "/v1/rides/2200001")).body.from_date).toBe("2013-01-01T02:00:00.000Z");
    stream.ws.close();
  });

  it("tells a job's loss on the stream, found by the check after its LISTEN connection dropped", async () => {
    const releaseMover = await holdMover(db.url);
    try {
      const stream = await openTestStream(service.url);
      stream.send({ seq: 1, rides: [ride({ id: 2_400_001 })] });
      stream.send({ seq: 2, rides: [ride({ id: 2_400_002 })] });
      await stream.until(() => stream.acks().length === 2);
      const jobIds = stream.acks().map((ack) => ack.job_id);
      // The listener goes; meanwhile the staged rides vanish as a PostgreSQL crash would empty them.
      const { rows } = await db.pool.query("SELECT pg_terminate_backend(pid) AS gone FROM pg_stat_activity WHERE application_name = 'rides-ingest-listen' AND datname = current_database()");
      expect(rows).toEqual([{ gone: true }]);
      await db.pool.query("DELETE FROM staging WHERE job_id = ANY($1)", [jobIds]);
      await stream.until(() => stream.jobs().length === 2);
      const told = stream.jobs().map((job) => [job.job_id, job.status]).sort(([a], [b]) => a - b);
      expect(told).toEqual(jobIds.map((id) => [id, "lost"]));
      expect(stream.jobs()[0].error).toMatch(/lost before they were stored/);
      stream.ws.close(1000);
    } finally {
      await releaseMover();
    }
  });

  it("counts streams, frames and rides in /metrics and shows open streams on the dashboard", async () => {
    const stream = await openTestStream(service.url);
    stream.send({ seq: 1, rides: [ride({ id: 2_300_001 })] });
    await stream.until(() => stream.acks().length === 1);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/^rides_streams_open 1$/m);
    expect(metrics).toMatch(/^rides_stream_frames_total\{outcome="acked"\} \d+$/m);
    expect(metrics).toMatch(/^rides_stream_frames_total\{outcome="413"\} 1$/m);
    expect(metrics).toMatch(/^rides_stream_rides_total\{outcome="rejected"\} \d+$/m);
    expect(metrics).toMatch(/^rides_stream_ack_seconds_count \d+$/m);
    expect((await getJson(service.url, "/dashboard/stats")).body.openStreams).toBe(1);
    // The page holds no numbers of its own (they need a read key where keys are set): dashboard.js fills this from the stats.
    expect(await (await fetch(`${service.url}/`)).text()).toContain('<span id="streams-open">');
    stream.ws.close();
    await stream.closed;
    await expect.poll(async () => (await getJson(service.url, "/dashboard/stats")).body.openStreams).toBe(0);
  });
});
