import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { freePort } from "../../src/db/embedded.ts";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride, SAMPLE_CSV, startTestService } from "../support/service.ts";

const CLI = new URL("../../src/cli/rides.ts", import.meta.url).pathname;

let db: TestDatabase;
let service: Service;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url);
  dir = await mkdtemp(path.join(tmpdir(), "rides-stream-cli-"));
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

type Run = { code: number | null; stdout: string; stderr: string };

/** The CLI in its own process, as a user runs it, with stdin piped in. */
function rides(args: string[], { env = {}, stdin = "" }: { env?: Record<string, string>; stdin?: string } = {}): { done: Promise<Run>; stderr: () => string } {
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
      resolve({ code, stdout, stderr });
    }),
  );
  return { done, stderr: () => stderr };
}

const stored = async (from: number, to: number) =>
  (await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM rides WHERE id BETWEEN $1 AND $2", [from, to])).rows[0].n;

describe("rides stream", () => {
  it("streams an NDJSON file one ride per frame, names each rejected ride by its place, and exits 1", async () => {
    const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify(ride({ id: 6_000_001 + i })));
    lines.splice(10, 0, JSON.stringify(ride({ id: 6_100_000, from_lat: 95 })));
    lines.splice(20, 0, "{not json");
    const file = path.join(dir, "rides.ndjson");
    await writeFile(file, `${lines.join("\n")}\n`);
    const run = await rides(["stream", file]).done;
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
    expect(await stored(6_000_001, 6_000_300)).toBe(300);
  });

  it("streams the producer's CSV from standard input and exits 0", async () => {
    const run = await rides(["stream", "-"], { stdin: SAMPLE_CSV }).done;
    expect(run.stdout).toContain("stdin: 200 rides in 200 frames\naccepted  200\nrejected  0\njobs      200: 200 done");
    expect(run.stderr.trim().split("\n").at(-1)).toBe("sent 200, acked 200, stored 200, rejected 0");
    expect(run.code).toBe(0);
  });

  it("exits 2 when the service refuses the stream", async () => {
    const keyed = await startTestService(db.url, { API_KEYS: "stream-cli-test-key-1:read" });
    try {
      const run = await rides(["stream", "-"], { env: { RIDES_URL: keyed.url, RIDES_API_KEY: "stream-cli-test-key-1" }, stdin: SAMPLE_CSV }).done;
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
    const run = rides(["stream", "-", "--window", "64"], { env: { RIDES_URL: restarting.url }, stdin: `${lines.join("\n")}\n` });
    await vi.waitFor(() => expect(run.stderr()).toMatch(/acked [1-9]\d{2,}/), { timeout: 30_000, interval: 20 });
    await restarting.stop();
    restarting = await startTestService(db.url, { PORT: port });
    try {
      const result = await run.done;
      expect(result.stderr).toContain("stream closed: 1001 the service is shutting down; resend what was not acknowledged on a new connection");
      expect(result.stdout).toContain("jobs      ");
      expect(result.code).toBe(0);
      expect(await stored(6_200_001, 6_205_000)).toBe(5_000);
    } finally {
      await restarting.stop();
    }
  });
});
