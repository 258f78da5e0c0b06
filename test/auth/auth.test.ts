import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { getJson, post, ride, startTestService, waitForJob } from "../support/service.ts";

const PRODUCER = "k3y-for-xrides-producer";
const ANALYST = "k3y-for-analysts-only";
const ADMIN = "k3y-with-every-scope";
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

let db: TestDatabase;
let service: Service;
const logged: string[] = [];
const originalError = console.error;

beforeAll(async () => {
  console.error = (...args: unknown[]) => {
    logged.push(args.join(" "));
  };
  db = await createTestDatabase();
  service = await startTestService(db.url, { API_KEYS: `${PRODUCER}:ingest, ${ANALYST}:read,${ADMIN}` });
});
afterAll(async () => {
  console.error = originalError;
  await service?.stop();
  await db?.drop();
});

const json = "application/json";

describe("API keys", () => {
  it("answers 401 without a valid key, naming the header, and never echoes the key", async () => {
    for (const headers of [{}, { authorization: "Basic Zm9vOmJhcg==" }, bearer("wrong-key-wrong-key"), bearer(`${PRODUCER}x`)]) {
      const answer = await post(service.url, JSON.stringify(ride()), json, "/v1/rides", headers);
      expect(answer.status).toBe(401);
      expect(answer.headers.get("content-type")).toBe("application/problem+json");
      expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="rides-ingest"');
      expect(answer.body.detail).toBe("send a valid API key as Authorization: Bearer <key>");
      expect(JSON.stringify(answer.body)).not.toContain("wrong-key");
    }
    for (const path of ["/v1/jobs", "/v1/jobs/1", "/v1/rides/1", "/v1/no-such-route"]) {
      expect((await getJson(service.url, path)).status).toBe(401);
    }
  });

  it("keeps /healthz and /readyz open", async () => {
    expect((await getJson(service.url, "/healthz")).status).toBe(200);
    expect((await getJson(service.url, "/readyz")).status).toBe(200);
  });

  it("lets an ingest key post and follow its jobs, but not read rides (403)", async () => {
    const accepted = await post(service.url, JSON.stringify(ride({ id: 610001 })), json, "/v1/rides", bearer(PRODUCER));
    expect(accepted.status).toBe(202);
    const job = await getJson(service.url, `/v1/jobs/${accepted.body.job_id}`, bearer(PRODUCER));
    expect(job.status).toBe(200);
    const read = await getJson(service.url, "/v1/rides/610001", bearer(PRODUCER));
    expect([read.status, read.body.detail]).toEqual([403, "this API key lacks the read scope needed for GET /v1/rides/610001"]);
  });

  it("lets a read key read rides and jobs, but not post (403)", async () => {
    const accepted = await post(service.url, JSON.stringify(ride({ id: 610002 })), json, "/v1/rides", bearer(ADMIN));
    expect((await waitForJob(service.url, accepted.body.job_id, 15_000, bearer(ANALYST))).status).toBe("done");
    expect((await getJson(service.url, "/v1/rides/610002", bearer(ANALYST))).body.id).toBe(610002);
    const posted = await post(service.url, JSON.stringify(ride({ id: 610003 })), json, "/v1/rides", bearer(ANALYST));
    expect([posted.status, posted.body.detail]).toEqual([403, "this API key lacks the ingest scope needed for POST /v1/rides"]);
    expect((await getJson(service.url, `/v1/jobs/${accepted.body.job_id}`, bearer(ANALYST))).status).toBe(200);
    expect((await getJson(service.url, "/v1/jobs?limit=1", bearer(ANALYST))).status).toBe(200);
  });

  it("keeps the dashboard's numbers and /metrics behind a read key; the page itself holds no data", async () => {
    await post(service.url, JSON.stringify(ride({ id: 610004 })), json, "/v1/rides", bearer(PRODUCER));
    for (const path of ["/dashboard/stats", "/dashboard/stats?days=31&until=2013-02-01T00:00:00Z", "/metrics"]) {
      const denied = await fetch(`${service.url}${path}`);
      expect([path, denied.status, denied.headers.get("content-type")]).toEqual([path, 401, "application/problem+json"]);
      expect([path, (await fetch(`${service.url}${path}`, { headers: bearer(PRODUCER) })).status]).toEqual([path, 403]);
      const allowed = await fetch(`${service.url}${path}`, { headers: bearer(ANALYST) });
      expect([path, allowed.status]).toEqual([path, 200]);
    }
    const page = await fetch(`${service.url}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('id="key-form"');
    // No count, job or backlog figure is in the page: every number is a placeholder until the script has a key.
    expect(html.match(/id="(intake-last-minute|backlog-rides|jobs-done|jobs-queued)">([^<]*)</g)).toEqual([
      'id="intake-last-minute">–<',
      'id="backlog-rides">–<',
      'id="jobs-done">–<',
      'id="jobs-queued">–<',
    ]);
  });

  it("never writes a key to the log", () => {
    for (const line of logged) {
      for (const secret of [PRODUCER, ANALYST, ADMIN]) expect(line).not.toContain(secret);
    }
  });
});
