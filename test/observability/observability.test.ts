import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { type Service, startService } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { holdFolder } from "../support/locks.ts";
import { post, ride, SAMPLE_CSV, waitForJob } from "../support/service.ts";

let db: TestDatabase;
let service: Service;
const logLines: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const config = loadConfig({ HOST: "127.0.0.1", PORT: "0", DATABASE_URL: db.url, LOG_LEVEL: "info" });
  service = await startService({ ...config, databaseUrl: db.url }, createLogger(config.logLevel, sink));
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

/** One sample of a Prometheus text exposition, e.g. sample(text, 'rides_jobs{status="done"}'). */
function sample(metrics: string, series: string): number {
  const line = metrics.split("\n").find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no ${series} in /metrics`);
  return Number(line.slice(series.length + 1));
}
const scrape = async () => (await fetch(`${service.url}/metrics`)).text();

describe("/metrics", () => {
  it("counts requests, rides, the backlog while the mover is held, the mover's output and lag", async () => {
    // Holding the mover's lock keeps the rides in staging, so the backlog is visible.
    const holder = await db.pool.connect();
    await holder.query("SELECT pg_advisory_lock(hashtext('rides-mover'))");
    let jobId: number;
    try {
      const sent = await post(service.url, SAMPLE_CSV, "text/csv");
      expect(sent.status).toBe(202);
      jobId = sent.body.job_id;
      const bad = await post(service.url, JSON.stringify([ride({ id: 1, user_id: -1 }), ride({ id: 2 })]), "application/json");
      expect(bad.body.rejected).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 50));

      const held = await scrape();
      expect(sample(held, "rides_staging_rides")).toBe(201);
      expect(sample(held, "rides_staging_jobs")).toBe(2);
      expect(sample(held, "rides_staging_oldest_age_seconds")).toBeGreaterThan(0);
      expect(sample(held, 'rides_jobs{status="queued"}')).toBe(2);
    } finally {
      await holder.query("SELECT pg_advisory_unlock(hashtext('rides-mover'))");
      holder.release();
    }
    await waitForJob(service.url, jobId);
    await waitForJob(service.url, jobId + 1);
    await fetch(`${service.url}/v1/jobs/999999`);

    const metrics = await scrape();
    const exact = {
      'http_requests_total{method="POST",route="/v1/rides",status="202"}': 2,
      'http_requests_total{method="GET",route="/v1/jobs/:id",status="404"}': 1,
      'http_request_duration_seconds_count{method="POST",route="/v1/rides",status="202"}': 2,
      rides_accepted_total: 201,
      rides_rejected_total: 1,
      rides_staging_rides: 0,
      'rides_jobs{status="done"}': 2,
      'rides_jobs_finished_total{status="done"}': 2,
      rides_stored_total: 201,
      rides_ack_to_stored_seconds_count: 2,
    };
    expect(Object.fromEntries(Object.keys(exact).map((series) => [series, sample(metrics, series)]))).toEqual(exact);
    for (const positive of ["rides_ack_to_stored_seconds_sum", 'db_pool_connections{state="total"}', "process_cpu_user_seconds_total"]) {
      expect(sample(metrics, positive), positive).toBeGreaterThan(0);
    }
    expect(metrics).toContain("nodejs_eventloop_lag_seconds");

    // A second scrape does not count the same finished jobs again.
    expect(sample(await scrape(), "rides_stored_total")).toBe(201);
  });
});

describe("request ids and logs", () => {
  it("takes the caller's X-Request-Id, returns it, puts it in problem bodies and log lines, and logs no secret", async () => {
    const response = await fetch(`${service.url}/v1/jobs/424242`, {
      headers: { "x-request-id": "trace-42", authorization: "Bearer s3cret-key" },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get("x-request-id")).toBe("trace-42");
    expect(await response.json()).toMatchObject({ status: 404, request_id: "trace-42" });

    const line = logLines.map((text) => JSON.parse(text)).find((entry) => entry.request_id === "trace-42");
    expect(line).toMatchObject({ level: "info", msg: "request", method: "GET", route: "/v1/jobs/:id", status: 404 });
    expect(logLines.join("\n")).not.toContain("s3cret-key");
  });

  it("makes up a request id when none (or an unsafe one) is sent", async () => {
    const response = await fetch(`${service.url}/v1/rides`, {
      method: "POST",
      headers: { "content-type": "text/plain", "x-request-id": "bad id\twith spaces" },
      body: "x",
    });
    const id = response.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await response.json()).request_id).toBe(id);
  });

  it("redacts an Authorization header if a log line ever carries one", () => {
    const lines: string[] = [];
    const log = createLogger("info", { write: (line: string) => void lines.push(line) });
    log.info({ headers: { authorization: "Bearer s3cret-key" }, apiKey: "k-123" }, "with secrets");
    expect(lines.join("")).not.toMatch(/s3cret-key|k-123/);
    expect(JSON.parse(lines[0]).headers.authorization).toBe("[redacted]");
  });

  it("is quiet by default and refuses an unknown LOG_LEVEL", () => {
    expect(loadConfig({}).logLevel).toBe("warn");
    expect(() => loadConfig({ LOG_LEVEL: "loud" })).toThrow(/LOG_LEVEL must be one of/);
  });
});

describe("/metrics on the rollups", () => {
  it("shows the changes waiting for the rollup folder", async () => {
    const releaseFolder = await holdFolder(db.url);
    try {
      const sent = await post(service.url, JSON.stringify([ride({ id: 61001 }), ride({ id: 61002 })]), "application/json");
      expect((await waitForJob(service.url, sent.body.job_id)).status).toBe("done");
      expect(sample(await scrape(), "rides_rollup_pending_changes")).toBe(2);
    } finally {
      await releaseFolder();
    }
    await expect.poll(async () => sample(await scrape(), "rides_rollup_pending_changes"), { timeout: 10_000 }).toBe(0);
  });
});
