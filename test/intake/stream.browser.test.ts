import { afterAll, beforeAll, expect, it } from "vitest";
import type { Service } from "../../src/service.ts";
import { type Browser, openBrowser } from "../support/browser.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride, startTestService } from "../support/service.ts";

const KEY = "stream-browser-test-key";

let db: TestDatabase;
let service: Service;
let browser: Browser;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url, { API_KEYS: `${KEY}:ingest+read` });
  browser = await openBrowser(service.url);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await service?.stop();
  await db?.drop();
});

/** In the page: opens the stream with these subprotocols, sends the frames, and returns what came back and how it closed. */
const streamInPage = ({ url, protocols, frames }: { url: string; protocols: string[]; frames: unknown[] }) =>
  new Promise<{ protocol: string; messages: unknown[]; close: number }>((resolve) => {
    const ws = new WebSocket(url, protocols);
    const messages: { seq?: number; status?: string }[] = [];
    ws.onopen = () => frames.forEach((frame) => ws.send(JSON.stringify(frame)));
    ws.onmessage = (event) => {
      messages.push(JSON.parse(event.data));
      if (messages.some((m) => m.status === "done")) ws.close(1000);
    };
    ws.onclose = (event) => resolve({ protocol: ws.protocol, messages, close: event.code });
  });

it("a browser streams with the key as a subprotocol, never in the URL, and gets its ack and the job's status", async () => {
  const page = await browser.context.newPage();
  await page.goto(`${service.url}/healthz`);
  const url = `${service.url.replace(/^http/, "ws")}/v1/rides/stream`;
  const keyProtocol = `rides-ingest.key.${Buffer.from(KEY).toString("base64url")}`;
  const frames = [{ seq: 1, rides: [ride({ id: 7_000_001 })] }];

  const taken = await page.evaluate(streamInPage, { url, protocols: ["rides-ingest.v1", keyProtocol], frames });
  expect(taken.protocol).toBe("rides-ingest.v1");
  expect(taken.messages[0]).toMatchObject({ seq: 1, accepted: 1, rejected: [] });
  expect(taken.messages[1]).toMatchObject({ status: "done", stored: 1 });
  expect(taken.close).toBe(1000);

  // Without the key the upgrade is refused (401); a browser sees only that the socket failed.
  const refused = await page.evaluate(streamInPage, { url, protocols: ["rides-ingest.v1"], frames });
  expect(refused).toEqual({ protocol: "", messages: [], close: 1006 });
  expect(browser.offsite).toEqual([]);
  const stored = await db.pool.query("SELECT count(*)::int AS n FROM rides WHERE id = 7000001");
  expect(stored.rows[0].n).toBe(1);
});
