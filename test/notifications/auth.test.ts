import { describe, expect, it } from "vitest";
import { getJson, post, withTestService } from "../support/service.ts";

const PRODUCER = "k3y-for-xrides-producer";
const ANALYST = "k3y-for-analysts-only";
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
const running = withTestService({ API_KEYS: `${PRODUCER}:ingest,${ANALYST}:read` });

describe("notification routes and API keys", () => {
  it("the event stream needs the read scope, the webhooks the ingest scope", async () => {
    const { url } = running.service;
    const events = await fetch(`${url}/v1/jobs/events`, { headers: bearer(ANALYST) });
    expect([events.status, events.headers.get("content-type")]).toEqual([200, "text/event-stream"]);
    await events.body?.cancel();
    const producerEvents = await getJson(url, "/v1/jobs/events", bearer(PRODUCER));
    expect([producerEvents.status, producerEvents.body.detail]).toEqual([403, "this API key lacks the read scope needed for GET /v1/jobs/events"]);
    expect((await getJson(url, "/v1/jobs/events")).status).toBe(401);

    const registered = await post(url, JSON.stringify({ url: "https://receiver.example/hook" }), "application/json", "/v1/webhooks", bearer(PRODUCER));
    expect(registered.status).toBe(201);
    const byAnalyst = await post(url, JSON.stringify({ url: "https://receiver.example/other" }), "application/json", "/v1/webhooks", bearer(ANALYST));
    expect([byAnalyst.status, byAnalyst.body.detail]).toEqual([403, "this API key lacks the ingest scope needed for POST /v1/webhooks"]);
    for (const path of ["/v1/webhooks", `/v1/webhooks/${registered.body.webhook_id}/deliveries`]) {
      expect((await getJson(url, path, bearer(ANALYST))).status).toBe(403);
      expect((await getJson(url, path, bearer(PRODUCER))).status).toBe(200);
    }
  });
});
