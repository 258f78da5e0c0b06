import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { request } from "node:http";
import { inject } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { afterAll, beforeAll } from "vitest";
import { startService, type Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";

export const SAMPLE_CSV_PATH = fileURLToPath(new URL("../../data/xrides-2013-sample.csv", import.meta.url));
export const SAMPLE_CSV = readFileSync(SAMPLE_CSV_PATH, "utf8");

/** `url` through the run's PgBouncer, when there is one (npm run test:scale-out). */
export function throughPgBouncer(url: string): string {
  const port = inject("pgbouncerPort");
  if (port === undefined) return url;
  const parsed = new URL(url);
  parsed.port = String(port);
  return parsed.toString();
}

/**
 * The real service on a free loopback port against a test database; env entries override
 * the config. Under npm run test:scale-out its DATABASE_URL goes through PgBouncer and
 * DIRECT_DATABASE_URL is the database itself.
 */
export async function startTestService(databaseUrl: string, env: Record<string, string> = {}): Promise<Service> {
  const pooled = throughPgBouncer(databaseUrl);
  const config = loadConfig({ HOST: "127.0.0.1", PORT: "0", DIRECT_DATABASE_URL: databaseUrl, ...env, DATABASE_URL: pooled });
  return startService({ ...config, databaseUrl: pooled });
}

/**
 * The real service on a database of this test file's own, started before its tests and
 * stopped (and the database dropped) after them. A test may replace `service` (a restart).
 */
export function withTestService(env: Record<string, string> = {}) {
  const context = {} as { db: TestDatabase; service: Service };
  beforeAll(async () => {
    context.db = await createTestDatabase();
    context.service = await startTestService(context.db.url, env);
  });
  afterAll(async () => {
    await context.service?.stop();
    await context.db?.drop();
  });
  return context;
}

/** A stack trace or SQL text: neither may ever reach an answer or a log. */
export const LEAK = /\n\s+at |INSERT INTO|SELECT .* FROM/;

export type PostResult = { status: number; headers: Headers; body: any };

export async function post(
  url: string,
  body: BodyInit,
  contentType: string,
  path = "/v1/rides",
  headers: Record<string, string> = {},
): Promise<PostResult> {
  const response = await fetch(`${url}${path}`, { method: "POST", headers: { "content-type": contentType, ...headers }, body });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/**
 * A POST of a body over the limit, announced by its Content-Length but never sent: the
 * service answers 413 from the header alone. Sending the bytes would race the server's
 * close of a connection it will not read, and the client could lose the answer.
 */
export function postOversized(url: string, path: string, headers: Record<string, string>, length: number): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: "POST", headers: { ...headers, "content-length": String(length) } });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => {
        req.destroy();
        resolve({ status: res.statusCode!, headers: new Headers(res.headers as Record<string, string>), body: JSON.parse(text) });
      });
    });
    req.on("error", reject);
    req.flushHeaders();
  });
}

export async function getJson(url: string, path: string, headers: Record<string, string> = {}): Promise<PostResult> {
  const response = await fetch(`${url}${path}`, { headers });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** Polls a job until it leaves `queued` (the mover runs in the background). */
export async function waitForJob(url: string, jobId: number, timeoutMs = 15_000, headers: Record<string, string> = {}): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await getJson(url, `/v1/jobs/${jobId}`, headers);
    if (body.status !== "queued") return body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still queued after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A valid ride as a JSON sender posts it; fields can be overridden. */
export function ride(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 900001,
    user_id: 22177,
    vehicle_model_id: 28,
    package_id: null,
    travel_type_id: 2,
    from_area_id: 83,
    to_area_id: 448,
    from_city_id: null,
    to_city_id: null,
    from_date: "2013-01-01T02:00:00+05:30",
    to_date: null,
    online_booking: false,
    mobile_site_booking: false,
    booking_created: "2013-01-01T01:39:00+05:30",
    from_lat: 12.92415,
    from_long: 77.67229,
    to_lat: 12.92732,
    to_long: 77.63575,
    car_cancellation: false,
    ...overrides,
  };
}
