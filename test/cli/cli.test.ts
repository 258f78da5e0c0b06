import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { freePort } from "../../src/db/embedded.ts";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride, SAMPLE_CSV, SAMPLE_CSV_PATH, startTestService } from "../support/service.ts";

const CLI = new URL("../../src/cli/rides.ts", import.meta.url).pathname;

let db: TestDatabase;
let service: Service;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url);
  dir = await mkdtemp(path.join(tmpdir(), "rides-cli-"));
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

type Run = { code: number; stdout: string; stderr: string };

/** The CLI as a user runs it: its own process, talking HTTP to the service. */
function rides(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--experimental-strip-types", "--no-warnings", CLI, ...args],
      { env: { ...process.env, RIDES_URL: service.url, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const storedRides = async () => (await db.pool.query("SELECT count(*)::int AS n FROM rides")).rows[0].n;

describe("rides send", () => {
  it("sends the producer's CSV in batches with a progress bar, waits for the jobs and sums up", async () => {
    const run = await rides(["send", SAMPLE_CSV_PATH, "--batch-size", "50"]);
    expect(run.stdout).toBe(
      [
        "xrides-2013-sample.csv: 200 rides in 4 batches",
        "accepted  200",
        "rejected  0",
        "jobs      4: 4 done, 0 failed, 0 lost, 0 still queued",
        "",
      ].join("\n"),
    );
    expect(run.stderr.trim().split("\n").at(-1)).toMatch(/^\[#{30}\] 100% 200\/200 rides job \d+$/);
    expect(run.code).toBe(0);
    expect(await storedRides()).toBe(200);
  });

  it("reports each rejected ride by its place in the file, with the reasons, and exits 1", async () => {
    const [header, ...rows] = SAMPLE_CSV.trim().split("\n");
    const badLatitude = rows[3].split(",");
    badLatitude[14] = "123.5";
    const file = path.join(dir, "some-bad.csv");
    await writeFile(file, [header, rows[0], rows[1], rows[2], badLatitude.join(","), "1,2,3"].join("\n"));

    const run = await rides(["send", file, "--batch-size", "2"]);
    expect(run.stdout).toContain("some-bad.csv: 5 rides in 3 batches");
    expect(run.stdout).toContain("accepted  3");
    expect(run.stdout).toContain("rejected  2");
    expect(run.stdout).toContain(`  ride 4 (id ${badLatitude[0]}): from_lat must be between -90 and 90, got 123.5`);
    expect(run.stdout).toMatch(/ {2}ride 5 \(id 1\): line \d+ has 3 fields, the header has 19/);
    expect(run.stdout).toContain("jobs      2: 2 done");
    expect(run.code).toBe(1);
  });

  it("sends NDJSON and JSON files", async () => {
    const ndjson = path.join(dir, "rides.ndjson");
    await writeFile(ndjson, [ride({ id: 800001 }), ride({ id: 800002 }), ride({ id: 800003 })].map((r) => JSON.stringify(r)).join("\n"));
    const json = path.join(dir, "rides.json");
    await writeFile(json, JSON.stringify([ride({ id: 800004 }), ride({ id: 800005 })]));

    const fromNdjson = await rides(["send", ndjson, "--batch-size", "2"]);
    expect(fromNdjson.stdout).toContain("rides.ndjson: 3 rides in 2 batches\naccepted  3\nrejected  0");
    const fromJson = await rides(["send", json]);
    expect(fromJson.stdout).toContain("rides.json: 2 rides in 1 batches\naccepted  2\nrejected  0");
    expect([fromNdjson.code, fromJson.code]).toEqual([0, 0]);
  });

  it("refuses a file it cannot read with exit 2", async () => {
    const run = await rides(["send", path.join(dir, "rides.txt")]);
    expect(run.stderr).toMatch(/ENOENT|cannot tell the format/);
    expect(run.code).toBe(2);
  });
});

describe("through a proxy that answers 503 and 429 first", () => {
  let proxy: Server;
  let proxyUrl: string;
  const seen: { method: string; path: string; key?: string; authorization?: string; body: string }[] = [];
  let refusalsLeft = 0;

  beforeAll(async () => {
    proxy = createServer(async (request, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks).toString();
      seen.push({
        method: request.method!,
        path: request.url!,
        key: request.headers["idempotency-key"] as string | undefined,
        authorization: request.headers.authorization,
        body,
      });
      if (request.method === "POST" && request.url!.startsWith("/v1/rides") && refusalsLeft > 0) {
        const status = refusalsLeft-- % 2 === 0 ? 503 : 429;
        response.writeHead(status, { "content-type": "application/problem+json", "retry-after": "0" });
        response.end(JSON.stringify({ status, detail: "busy" }));
        return;
      }
      const upstream = await fetch(`${service.url}${request.url}`, {
        method: request.method,
        headers: { "content-type": request.headers["content-type"] ?? "application/json" },
        body: request.method === "GET" ? undefined : body,
      });
      response.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
      response.end(await upstream.text());
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => proxy.close(() => resolve())));

  it("retries a batch on 503/429 with the same Idempotency-Key and sends the API key as a bearer token", async () => {
    seen.length = 0;
    refusalsLeft = 2;
    const run = await rides(["send", SAMPLE_CSV_PATH, "--batch-size", "100", "--concurrency", "1", "--url", proxyUrl], {
      RIDES_API_KEY: "k-test-1",
    });
    expect(run.stdout).toContain("accepted  200");
    expect(run.stderr).toContain("service answered 503; retrying in 0.0 s");
    expect(run.stderr).toContain("service answered 429; retrying in 0.0 s");
    expect(run.code).toBe(0);

    const posts = seen.filter((request) => request.method === "POST");
    expect(posts).toHaveLength(4);
    const keys = posts.map((request) => request.key);
    expect(new Set(keys.slice(0, 3)).size).toBe(1);
    expect(keys[3]).not.toBe(keys[0]);
    expect(keys.every((key) => typeof key === "string" && key.length > 10)).toBe(true);
    expect(seen.every((request) => request.authorization === "Bearer k-test-1")).toBe(true);
    expect(run.stdout + run.stderr).not.toContain("k-test-1");
  });

  it("rides query posts the JSON to the real /v1/query and prints the answer as a table", async () => {
    seen.length = 0;
    const query = JSON.stringify({
      measures: ["count"],
      dimensions: ["travel_type_id"],
      time: { from: "2013-01-01T00:00:00+05:30", to: "2013-02-01T00:00:00+05:30" },
      order: [{ member: "travel_type_id", direction: "asc" }],
    });
    const run = await rides(["query", query, "--url", proxyUrl, "--api-key", "k-2"]);
    expect(seen[0]).toMatchObject({ method: "POST", path: "/v1/query", body: query, authorization: "Bearer k-2" });
    const { rows } = await db.pool.query<{ travel_type_id: number; n: number }>(
      `SELECT travel_type_id, count(*)::int AS n FROM rides
       WHERE from_date >= '2013-01-01T00:00:00+05:30' AND from_date < '2013-02-01T00:00:00+05:30'
       GROUP BY 1 ORDER BY 1`,
    );
    expect(rows.length).toBeGreaterThan(1);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^travel_type_id +count$/);
    expect(lines.slice(2, -1)).toEqual(rows.map((row) => expect.stringMatching(new RegExp(`^${row.travel_type_id} +${row.n}$`))));
    expect(lines.at(-1)).toBe(`(${rows.length} rows)`);
    expect(run.code).toBe(0);
  });
});

describe("rides status and rides jobs", () => {
  it("shows one job, and lists the failed ones", async () => {
    const failed = (
      await db.pool.query(
        `WITH j AS (INSERT INTO jobs (accepted, status, failed, error, finished_at) VALUES (4, 'failed', 4, 'refused for the test', now()) RETURNING id),
              f AS (INSERT INTO job_failures (job_id, status) SELECT id, 'failed' FROM j)
         SELECT id FROM j`,
      )
    ).rows[0].id;
    const status = await rides(["status", String(failed)]);
    expect(status.stdout).toMatch(/^status +failed$/m);
    expect(status.stdout).toMatch(/^error +refused for the test$/m);
    expect(status.code).toBe(1);

    const list = await rides(["jobs", "--status", "failed"]);
    const lines = list.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^job_id +status +accepted +stored +superseded +failed +received_at +finished_at +error$/);
    expect(lines.slice(2)).toHaveLength(1);
    expect(lines[2]).toMatch(new RegExp(`^${failed} +failed +4 +0 +0 +4 .* refused for the test$`));

    const missing = await rides(["status", "99999999"]);
    expect(missing.stderr).toContain("the service refused: 404 no job 99999999");
    expect(missing.code).toBe(2);
  });
});

describe("rides rejections and rides retry", () => {
  it("lists a job's rejected rides with their reasons and raw input, and every job's with a cursor", async () => {
    const bad = `{"id": 950002, "user_id": "someone"}`;
    const answer = await fetch(`${service.url}/v1/rides`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `[${JSON.stringify(ride({ id: 950001 }))}, ${bad}, {"id": 950003}]`,
    });
    const { job_id: jobId } = (await answer.json()) as { job_id: number };
    const run = await rides(["rejections", String(jobId)]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^job_id +index +ride_id +reasons +raw +truncated$/);
    expect(lines[2]).toMatch(new RegExp(`^${jobId} +1 +950002 +user_id: .* +\\{"id": 950002, "user_id": "someone"\\} +false$`));
    expect(lines[3]).toMatch(new RegExp(`^${jobId} +2 +950003 `));
    expect(lines.at(-1)).toBe("(2 rejected rides)");

    const first = await rides(["rejections", "--limit", "1"]);
    expect(first.stdout).toContain(`more with --cursor ${jobId}.2`);
    const next = await rides(["rejections", "--limit", "1", "--cursor", `${jobId}.2`]);
    expect(next.stdout).toMatch(new RegExp(`^${jobId} +1 +950002 `, "m"));
  });

  it("retries a failed job once its cause is gone, and says why a done one is not retried", async () => {
    await db.pool.query("ALTER TABLE rides ADD CONSTRAINT refuse_user_9595 CHECK (user_id <> 9595)");
    const answer = await fetch(`${service.url}/v1/rides`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify([ride({ id: 951001, user_id: 9595 })]) });
    const { job_id: jobId } = (await answer.json()) as { job_id: number };
    await vi.waitFor(async () => expect((await rides(["status", String(jobId)])).stdout).toMatch(/^status +failed$/m), { timeout: 15_000, interval: 200 });
    await db.pool.query("ALTER TABLE rides DROP CONSTRAINT refuse_user_9595");
    const retried = await rides(["retry", String(jobId)]);
    expect(retried.stdout).toMatch(/^status +done$/m);
    expect(retried.stdout).toMatch(/^attempts +2$/m);
    expect(retried.code).toBe(0);
    const again = await rides(["retry", String(jobId)]);
    expect(again.stderr).toContain(`the service refused: 409 job ${jobId} is done, not failed`);
    expect(again.code).toBe(2);
  });
});

/** The CLI with stdin piped in and its stderr readable while it runs. */
function ridesLive(args: string[], { env = {}, stdin = "" }: { env?: Record<string, string>; stdin?: string } = {}) {
  const child = spawn(process.execPath, ["--experimental-strip-types", "--no-warnings", CLI, ...args], {
    env: { ...process.env, RIDES_URL: service.url, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  child.stdin.end(stdin);
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  const done = new Promise<Run>((resolve) =>
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    }),
  );
  return { done, stderr: () => stderr };
}

const storedBetween = async (from: number, to: number) =>
  (await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM rides WHERE id BETWEEN $1 AND $2", [from, to])).rows[0].n;

describe("rides stream", () => {
  it("streams an NDJSON file one ride per frame, names each rejected ride by its place, and exits 1", async () => {
    const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify(ride({ id: 6_000_001 + i })));
    lines.splice(10, 0, JSON.stringify(ride({ id: 6_100_000, from_lat: 95 })));
    lines.splice(20, 0, "{not json");
    const file = path.join(dir, "rides.ndjson");
    await writeFile(file, `${lines.join("\n")}\n`);
    const run = await ridesLive(["stream", file]).done;
    expect(run.stdout).toBe(
      [
        "rides.ndjson: 302 rides in 301 frames",
        "accepted  300",
        "rejected  2",
        "  ride 11 (id 6100000): from_lat must be between -90 and 90, got 95",
        "  ride 21 (id ?): line 21: ride 21 is not valid JSON: Expected property name or '}' in JSON at position 1 (line 1 column 2)",
        "jobs      300: 300 done, 0 failed, 0 lost, 0 still queued",
        "",
      ].join("\n"),
    );
    expect(run.stderr.trim().split("\n").at(-1)).toBe("sent 301, acked 300, stored 300, rejected 2");
    expect(run.code).toBe(1);
    expect(await storedBetween(6_000_001, 6_000_300)).toBe(300);
  });

  it("streams the producer's CSV from standard input and exits 0", async () => {
    const run = await ridesLive(["stream", "-"], { stdin: SAMPLE_CSV }).done;
    expect(run.stdout).toContain("stdin: 200 rides in 200 frames\naccepted  200\nrejected  0\njobs      200: 200 done");
    expect(run.stderr.trim().split("\n").at(-1)).toBe("sent 200, acked 200, stored 200, rejected 0");
    expect(run.code).toBe(0);
  });

  it("exits 2 when the service refuses the stream", async () => {
    const keyed = await startTestService(db.url, { API_KEYS: "stream-cli-test-key-1:read" });
    try {
      const run = await ridesLive(["stream", "-"], { env: { RIDES_URL: keyed.url, RIDES_API_KEY: "stream-cli-test-key-1" }, stdin: SAMPLE_CSV }).done;
      expect(run.stderr).toContain("the service refused the stream: 403 this API key lacks the ingest scope needed for GET /v1/rides/stream");
      expect(run.code).toBe(2);
    } finally {
      await keyed.stop();
    }
  });

  it("reconnects when the service restarts mid-stream and resends what was not acknowledged", async () => {
    const port = String(await freePort());
    let restarting = await startTestService(db.url, { PORT: port });
    const lines = Array.from({ length: 5_000 }, (_, i) => JSON.stringify(ride({ id: 6_200_001 + i })));
    const run = ridesLive(["stream", "-", "--window", "64"], { env: { RIDES_URL: restarting.url }, stdin: `${lines.join("\n")}\n` });
    await vi.waitFor(() => expect(run.stderr()).toMatch(/acked [1-9]\d{2,}/), { timeout: 30_000, interval: 20 });
    await restarting.stop();
    restarting = await startTestService(db.url, { PORT: port });
    try {
      const result = await run.done;
      expect(result.stderr).toContain("stream closed: 1001 the service is shutting down; resend what was not acknowledged on a new connection");
      expect(result.stdout).toContain("jobs      ");
      expect(result.code).toBe(0);
      expect(await storedBetween(6_200_001, 6_205_000)).toBe(5_000);
    } finally {
      await restarting.stop();
    }
  });
});
