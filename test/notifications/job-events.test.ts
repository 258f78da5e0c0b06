import { request } from "node:http";
import pg from "pg";
import { describe, expect, it, vi } from "vitest";
import { markLost } from "../../src/jobs/store.ts";
import { getJson, post, ride, startTestService, waitForJob, withTestService } from "../support/service.ts";

type SseEvent = { id: number; job: any };

/**
 * A real HTTP client on GET /v1/jobs/events, parsing the stream as an EventSource would
 * (events end at a blank line, `:` lines are comments); drop() cuts the connection.
 */
function openEvents(url: string, { lastEventId, query = "" }: { lastEventId?: number; query?: string } = {}) {
  const events: SseEvent[] = [];
  let comments = 0;
  let buffer = "";
  let status = 0;
  let contentType = "";
  const req = request(`${url}/v1/jobs/events${query}`, {
    headers: { accept: "text/event-stream", ...(lastEventId === undefined ? {} : { "last-event-id": String(lastEventId) }) },
  });
  const ready = new Promise<void>((resolve, reject) => {
    req.on("response", (res) => {
      status = res.statusCode!;
      contentType = String(res.headers["content-type"]);
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) comments++;
            else {
              const at = line.indexOf(":");
              fields.set(line.slice(0, at), line.slice(at + 1).replace(/^ /, ""));
            }
          }
          if (fields.has("data")) events.push({ id: Number(fields.get("id")), job: JSON.parse(fields.get("data")!) });
        }
      });
      res.on("error", () => {});
      resolve();
    });
    req.on("error", reject);
  });
  req.end();
  return {
    events,
    ready,
    status: () => status,
    contentType: () => contentType,
    comments: () => comments,
    drop: () => req.destroy(),
  };
}

const running = withTestService({ SSE_MAX_OPEN: "3", SSE_PING_INTERVAL_MS: "200" });
const sendOne = async (id: number, overrides: Record<string, unknown> = {}) =>
  (await post(running.service.url, JSON.stringify(ride({ id, ...overrides })), "application/json")).body.job_id as number;

describe("GET /v1/jobs/events", () => {
  it("streams each finished job as GET /v1/jobs/{id} answers it; a client dropped mid-stream resumes with Last-Event-ID and misses none, repeats none", async () => {
    const { url } = running.service;
    const first = openEvents(url);
    await first.ready;
    expect([first.status(), first.contentType()]).toEqual([200, "text/event-stream"]);

    const sent: number[] = [];
    for (let i = 0; i < 15; i++) sent.push(await sendOne(700_000 + i));
    await vi.waitFor(() => expect(first.events.length).toBeGreaterThanOrEqual(5), { timeout: 15_000 });
    first.drop();
    const seen = [...first.events];
    // While the client is away, the rest of these finish and more jobs come and finish.
    for (let i = 15; i < 25; i++) sent.push(await sendOne(700_000 + i));
    for (const id of sent) await waitForJob(url, id);

    const second = openEvents(url, { lastEventId: seen.at(-1)!.id });
    await second.ready;
    for (let i = 25; i < 35; i++) sent.push(await sendOne(700_000 + i));
    await vi.waitFor(() => expect(seen.length + second.events.length).toBeGreaterThanOrEqual(sent.length), { timeout: 15_000 });
    second.drop();

    const all = [...seen, ...second.events];
    // Jobs finished in one statement may come in any order within it, but each comes once.
    expect(all.map((event) => event.job.job_id).sort((a, b) => a - b)).toEqual(sent);
    const ids = all.map((event) => event.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    for (const event of all) expect(event.job).toEqual((await getJson(url, `/v1/jobs/${event.job.job_id}`)).body);
  });

  it("streams only the statuses asked for, keeps the connection alive with comments, and names a bad parameter", async () => {
    const { url } = running.service;
    await running.db.pool.query("ALTER TABLE rides ADD CONSTRAINT refuse_user_66 CHECK (user_id <> 66)");
    const failures = openEvents(url, { query: "?status=failed,lost" });
    await failures.ready;
    const done = await sendOne(710_001);
    const failed = await sendOne(710_002, { user_id: 66 });
    expect((await waitForJob(url, failed)).status).toBe("failed");
    await waitForJob(url, done);
    await vi.waitFor(() => expect(failures.events.length).toBe(1), { timeout: 15_000 });
    expect(failures.events[0].job).toMatchObject({ job_id: failed, status: "failed" });
    await vi.waitFor(() => expect(failures.comments()).toBeGreaterThan(0));
    failures.drop();
    await running.db.pool.query("ALTER TABLE rides DROP CONSTRAINT refuse_user_66");

    const bad = await getJson(url, "/v1/jobs/events?status=queued");
    expect([bad.status, bad.headers.get("content-type"), bad.body.detail]).toEqual([
      400,
      "application/problem+json",
      "query parameter status: must be done, failed, lost or a comma-separated list of them",
    ]);
    const badId = await getJson(url, "/v1/jobs/events", { "last-event-id": "abc" });
    expect([badId.status, badId.body.detail]).toEqual([400, "header Last-Event-ID: must be the id of an event received (a whole number)"]);
  });

  it("answers 503 past SSE_MAX_OPEN streams, and takes one again once a stream closed", async () => {
    const { url } = running.service;
    const open = [openEvents(url), openEvents(url), openEvents(url)];
    await Promise.all(open.map((stream) => stream.ready));
    expect(open.map((stream) => stream.status())).toEqual([200, 200, 200]);
    const refused = await getJson(url, "/v1/jobs/events");
    expect([refused.status, refused.headers.get("retry-after"), refused.body.detail]).toEqual([
      503,
      "2",
      "3 event streams are open in this process (SSE_MAX_OPEN); try again later",
    ]);
    open[0].drop();
    await vi.waitFor(async () => {
      const again = openEvents(url);
      await again.ready;
      again.drop();
      expect(again.status()).toBe(200);
    });
    for (const stream of open) stream.drop();
  });

  it("every writer of job_events waits for JOB_EVENTS_LOCK, which keeps seqs in commit order: the mover's finish and the lost-job check", async () => {
    const { url } = running.service;
    const holder = new pg.Client({ connectionString: running.db.url });
    await holder.connect();
    const waiters = async () =>
      (
        await running.db.pool.query(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND ((classid::bigint << 32) | objid::bigint) = hashtext('rides-job-events')::bigint`,
        )
      ).rows[0].n;
    try {
      await holder.query("SELECT pg_advisory_lock(hashtext('rides-job-events'))");
      const jobId = await sendOne(740_001);
      await vi.waitFor(async () => expect(await waiters()).toBe(1), { timeout: 15_000 });
      expect((await getJson(url, `/v1/jobs/${jobId}`)).body.status).toBe("queued");
      const sweeping = markLost(running.db.pool);
      await vi.waitFor(async () => expect(await waiters()).toBe(2), { timeout: 15_000 });
      await holder.query("SELECT pg_advisory_unlock(hashtext('rides-job-events'))");
      expect(await sweeping).toEqual([]);
      expect((await waitForJob(url, jobId)).status).toBe("done");
    } finally {
      await holder.end();
    }
  });

  it("a stream resumed on another process of the same database, with two movers taking turns, misses none and repeats none", async () => {
    const other = await startTestService(running.db.url, { SSE_PING_INTERVAL_MS: "200" });
    try {
      const first = openEvents(running.service.url);
      await first.ready;
      const sent: number[] = [];
      // Both processes take rides, so both movers finish jobs.
      for (let i = 0; i < 20; i++) {
        const url = i % 2 === 0 ? running.service.url : other.url;
        sent.push((await post(url, JSON.stringify(ride({ id: 750_000 + i })), "application/json")).body.job_id);
      }
      await vi.waitFor(() => expect(first.events.length).toBeGreaterThanOrEqual(5), { timeout: 15_000 });
      first.drop();
      const seen = [...first.events];
      const second = openEvents(other.url, { lastEventId: seen.at(-1)!.id });
      await second.ready;
      for (let i = 20; i < 30; i++) sent.push((await post(other.url, JSON.stringify(ride({ id: 750_000 + i })), "application/json")).body.job_id);
      await vi.waitFor(() => expect(seen.length + second.events.length).toBeGreaterThanOrEqual(sent.length), { timeout: 15_000 });
      second.drop();
      const all = [...seen, ...second.events];
      expect(all.map((event) => event.job.job_id).sort((a, b) => a - b)).toEqual([...sent].sort((a, b) => a - b));
      const ids = all.map((event) => event.id);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      await other.stop();
    }
  });
});
