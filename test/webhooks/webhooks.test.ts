import { afterAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { newestJobEventSeq } from "../../src/jobs/store.ts";
import { webhookUrlProblem } from "../../src/webhooks/url.ts";
import { getJson, post, ride, waitForJob, withTestService } from "../support/service.ts";
import { documentedVerifier, startReceiver } from "./receiver.ts";

const SECRET = "whsec_test_0123456789abcdef";
const running = withTestService({
  WEBHOOK_ALLOW_PRIVATE_URLS: "true",
  WEBHOOK_RETRY_DELAY_SECONDS: "1",
  WEBHOOK_RETRY_DELAY_MAX_SECONDS: "2",
  WEBHOOK_TIMEOUT_MS: "1000",
});
const receivers: { close: () => Promise<void> }[] = [];
afterAll(async () => {
  for (const receiver of receivers) await receiver.close();
});

const delivered = async (url: string) =>
  Number(/rides_webhook_deliveries_total\{outcome="delivered"\} (\d+)\n/.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);
const register = async (body: unknown) => post(running.service.url, JSON.stringify(body), "application/json", "/v1/webhooks");

describe("webhooks", () => {
  // First in this file: no endpoint exists yet.
  it("with no endpoint the dispatcher passes the events so far; an endpoint created then gets only the events after it", async () => {
    const { url } = running.service;
    const before = (await post(url, JSON.stringify(ride({ id: 710_001 })), "application/json")).body.job_id;
    await waitForJob(url, before);
    await vi.waitFor(async () => {
      const { rows } = await running.db.pool.query<{ through: string }>("SELECT through FROM webhook_dispatch");
      expect(Number(rows[0].through)).toBe(await newestJobEventSeq(running.db.pool));
    });
    const receiver = await startReceiver(() => 204);
    receivers.push(receiver);
    const created = await register({ url: receiver.url, notify: "all", secret: SECRET });
    const after = (await post(url, JSON.stringify(ride({ id: 710_002 })), "application/json")).body.job_id;
    await waitForJob(url, after);
    await vi.waitFor(() => expect(receiver.received.length).toBe(1), { timeout: 15_000 });
    expect(JSON.parse(receiver.received[0].body)).toMatchObject({ type: "job.done", job: { job_id: after } });
    expect((await fetch(`${url}/v1/webhooks/${created.body.webhook_id}`, { method: "DELETE" })).status).toBe(204);
  });

  it("a receiver that fails its first three deliveries gets the event on the fourth, signed, with one event id; every attempt is listed and counted", async () => {
    const { url } = running.service;
    const deliveredBefore = await delivered(url);
    const receiver = await startReceiver((attempt) => (attempt <= 3 ? 500 : 200));
    const hanging = await startReceiver(() => "hang");
    receivers.push(receiver, hanging);
    const created = await register({ url: receiver.url, notify: "all", secret: SECRET });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: receiver.url, notify: "all", configured: false, secret: SECRET });
    const slow = await register({ url: hanging.url, notify: "all" });
    expect(slow.body.secret).toMatch(/^whsec_/);

    const jobId = (await post(url, JSON.stringify(ride({ id: 720_001 })), "application/json")).body.job_id;
    const job = await waitForJob(url, jobId);
    await vi.waitFor(() => expect(receiver.received.length).toBe(4), { timeout: 45_000, interval: 100 });

    const verify = await documentedVerifier();
    const eventIds = new Set(receiver.received.map((request) => request.headers["rides-event-id"]));
    expect(eventIds.size).toBe(1);
    for (const request of receiver.received) {
      expect(verify(String(request.headers["rides-signature"]), request.body, SECRET)).toBe(true);
      expect(verify(String(request.headers["rides-signature"]), request.body, "another-secret-0123456789")).toBe(false);
      expect(verify(String(request.headers["rides-signature"]), request.body.replace("done", "fail"), SECRET)).toBe(false);
      expect(JSON.parse(request.body)).toEqual({ event_id: Number([...eventIds][0]), type: "job.done", job });
    }
    // A signature replayed later than the tolerance is refused.
    const last = receiver.received.at(-1)!;
    expect(verify(String(last.headers["rides-signature"]), last.body, SECRET, 300, Date.now() / 1000 + 301)).toBe(false);
    // Back-off: each wait at least as long as half the one before it doubled (jitter), never zero.
    const gaps = receiver.received.slice(1).map((request, i) => request.at - receiver.received[i].at);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(400);

    await vi.waitFor(async () => {
      const { body } = await getJson(url, `/v1/webhooks/${created.body.webhook_id}/deliveries`);
      expect(body.deliveries.map((d: any) => [d.attempt, d.outcome, d.response_status])).toEqual([
        [4, "delivered", 200],
        [3, "retrying", 500],
        [2, "retrying", 500],
        [1, "retrying", 500],
      ]);
    });
    // The receiver that never answers costs one timed-out attempt at a time, recorded as such.
    await vi.waitFor(async () => {
      const { body } = await getJson(url, `/v1/webhooks/${slow.body.webhook_id}/deliveries`);
      expect(body.deliveries[0]).toMatchObject({ outcome: "retrying", response_status: null, error: "no answer within 1000 ms (WEBHOOK_TIMEOUT_MS)" });
    }, { timeout: 15_000 });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(await delivered(url)).toBe(deliveredBefore + 1);
    expect(metrics).toMatch(/rides_webhook_deliveries_total\{outcome="retrying"\} [4-9]/);

    expect((await fetch(`${url}/v1/webhooks/${slow.body.webhook_id}`, { method: "DELETE" })).status).toBe(204);
    const listed = await getJson(url, "/v1/webhooks");
    expect(listed.body.webhooks.map((hook: any) => hook.webhook_id)).toEqual([created.body.webhook_id]);
    expect(listed.body.webhooks[0]).not.toHaveProperty("secret");
  }, 90_000);

  it("a failures-only endpoint gets failed jobs and no done ones", async () => {
    const { url } = running.service;
    const receiver = await startReceiver(() => 204);
    receivers.push(receiver);
    await register({ url: receiver.url, secret: SECRET });
    await running.db.pool.query("ALTER TABLE rides ADD CONSTRAINT refuse_user_77 CHECK (user_id <> 77)");
    const done = (await post(url, JSON.stringify(ride({ id: 730_001 })), "application/json")).body.job_id;
    const failed = (await post(url, JSON.stringify(ride({ id: 730_002, user_id: 77 })), "application/json")).body.job_id;
    await waitForJob(url, done);
    expect((await waitForJob(url, failed)).status).toBe("failed");
    await vi.waitFor(() => expect(receiver.received.length).toBe(1), { timeout: 15_000 });
    expect(JSON.parse(receiver.received[0].body)).toMatchObject({ type: "job.failed", job: { job_id: failed, status: "failed" } });
    await running.db.pool.query("ALTER TABLE rides DROP CONSTRAINT refuse_user_77");
  });

  it("a bad webhook URL or field gets a 400 problem naming the field and the reason", async () => {
    const cases: [unknown, string][] = [
      [{ url: "ftp://receiver.example/hook" }, "field url: must be an http:// or https:// URL"],
      [{ url: "https://user:pass@receiver.example/hook" }, "field url: must not hold a user name or password"],
      [{ url: "https://receiver.example/hook#part" }, "field url: must not hold a fragment (#...)"],
      [{ url: "not a url" }, "field url: must be an absolute http:// or https:// URL"],
      [{ url: `https://receiver.example/${"a".repeat(2_100)}` }, "field url: must be at most 2048 characters"],
      [{ url: 42 }, "field url: must be a string"],
      [{ url: "https://receiver.example/hook", notify: "sometimes" }, "field notify: must be one of failures, all"],
      [{ url: "https://receiver.example/hook", secret: "short" }, "field secret: must be 16 to 200 printable characters without spaces"],
      [{ url: "https://receiver.example/hook", events: "all" }, "field events: is not a known field (url, notify, secret)"],
    ];
    for (const [body, detail] of cases) {
      const answer = await register(body);
      expect([answer.status, answer.headers.get("content-type"), answer.body.detail]).toEqual([400, "application/problem+json", detail]);
    }
    const notJson = await post(running.service.url, "{", "application/json", "/v1/webhooks");
    expect([notJson.status, notJson.body.detail]).toEqual([400, "the body is not valid JSON"]);
    const missing = await getJson(running.service.url, "/v1/webhooks/999/deliveries");
    expect([missing.status, missing.body.detail]).toEqual([404, "no webhook 999"]);
  });

  it("refuses loopback, private and link-local destinations unless WEBHOOK_ALLOW_PRIVATE_URLS, in the API and in WEBHOOK_URLS", () => {
    for (const url of ["http://localhost/x", "http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/latest", "http://192.168.1.1/", "http://[fd00::1]/"]) {
      expect(webhookUrlProblem(url, false)).toBe("must not point at a loopback or private address (WEBHOOK_ALLOW_PRIVATE_URLS=true allows it)");
      expect(webhookUrlProblem(url, true)).toBeUndefined();
    }
    expect(webhookUrlProblem("https://8.8.8.8/hook", false)).toBeUndefined();
    expect(() => loadConfig({ WEBHOOK_URLS: "https://a.example/h,http://127.0.0.1/h", WEBHOOK_SECRET: SECRET })).toThrow(
      "WEBHOOK_URLS entry 2: must not point at a loopback or private address (WEBHOOK_ALLOW_PRIVATE_URLS=true allows it)",
    );
    expect(() => loadConfig({ WEBHOOK_URLS: "https://a.example/h" })).toThrow("WEBHOOK_URLS needs WEBHOOK_SECRET");
    expect(loadConfig({ WEBHOOK_URLS: "https://a.example/h, all=https://b.example/h", WEBHOOK_SECRET: SECRET }).webhooks.configured).toEqual([
      { url: "https://a.example/h", notify: "failures" },
      { url: "https://b.example/h", notify: "all" },
    ]);
  });
});
