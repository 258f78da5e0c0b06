import { mkdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../../src/client/client.ts";
import { markLost } from "../../src/jobs/store.ts";
import type { Service } from "../../src/service.ts";
import { type Browser, openBrowser } from "../support/browser.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { ride, SAMPLE_CSV, startTestService } from "../support/service.ts";

const ARTIFACTS = new URL("../artifacts/", import.meta.url);
// The sample is January 2013 history: the chart looks at the days up to 6 January in Bangalore.
const UNTIL = "2013-01-06T00:00:00+05:30";
const DAYS = 6;

const INGEST = "dashboard-test-ingest-key";
const READ = "dashboard-test-read-key";
let db: TestDatabase;
let service: Service;
let browser: Browser;
let lostJobId: number;
let rejectedJobId: number;

const ridesInWindow = async () =>
  (
    await db.pool.query(
      // The chart's last hour is the one holding UNTIL, counted whole.
      "SELECT count(*)::int AS n FROM rides WHERE from_date >= '2013-01-01T00:00:00+05:30' AND from_date < $1::timestamptz + interval '1 hour'",
      [UNTIL],
    )
  ).rows[0].n;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url, { API_KEYS: `${INGEST}:ingest,${READ}:read` });
  const client = createClient({ baseUrl: service.url, apiKey: INGEST });
  const sent = await client.sendRides(SAMPLE_CSV, "text/csv");
  expect((await client.waitForJobs([sent.job_id], 15_000))[0].status).toBe("done");
  // Three rejected rides for the quarantine's chart and reasons: two on from_lat, one on user_id.
  const mixed = [ride({ id: 778001 }), ride({ id: 778002, from_lat: 91 }), ride({ id: 778003, from_lat: 91 }), ride({ id: 778004, user_id: "x" })];
  rejectedJobId = (await client.sendRides(JSON.stringify(mixed), "application/json")).job_id;
  expect((await client.waitForJobs([rejectedJobId], 15_000))[0].status).toBe("done");
  // A job acknowledged whose staged rides are gone is what a crash leaves behind: the sweep
  // after PostgreSQL's restart reports it lost.
  lostJobId = (
    await db.pool.query(
      "WITH j AS (INSERT INTO jobs (accepted) VALUES (3) RETURNING id), c AS (INSERT INTO job_counts VALUES ('queued', 1)) SELECT id FROM j",
    )
  ).rows[0].id;
  expect(await markLost(db.pool)).toEqual([lostJobId]);
  browser = await openBrowser(service.url);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await service?.stop();
  await db?.drop();
});

const chartTotals = () =>
  (globalThis as any).Chart.getChart("rides-per-hour").data.datasets.map((set: { label: string; data: number[] }) => ({
    label: set.label,
    rides: set.data.reduce((sum, n) => sum + n, 0),
  }));

describe("the dashboard in headless Chromium", () => {
  it("asks for a read key once, then shows the numbers and the chart, links lost jobs, refreshes live and needs nothing from the internet", async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${service.url}/?until=${encodeURIComponent(UNTIL)}&days=${DAYS}`);

    // The page holds no numbers: its script asks for a key with the read scope.
    await page.locator("#key-form").waitFor({ state: "visible" });
    expect(await page.textContent("#intake-last-minute")).toBe("–");
    await page.fill("#key", INGEST);
    await page.click("#key-form button");
    await page.waitForFunction(() => document.getElementById("key-error")!.textContent === "that key lacks the read scope");
    await page.fill("#key", READ);
    await page.click("#key-form button");
    await page.waitForFunction(() => document.body.dataset.renderedAt !== undefined);
    expect(await page.isHidden("#key-form")).toBe(true);

    // Intake counts every ride acknowledged in the last minute: the sample's 200, the mixed request's one and the lost job's 3.
    expect(await page.textContent("#intake-last-minute")).toBe("204");
    expect(await page.textContent("#jobs-done")).toBe("2");

    // The quarantine: the three rejected rides, their reasons most met first, each linked to its list.
    expect(await page.textContent("#rejections-last-day")).toBe("3");
    const reasons = await page.locator("#top-reasons tr").evaluateAll((rows) => rows.map((row) => [...row.children].map((cell) => cell.textContent)));
    expect(reasons.map(([field, , rides]) => [field, rides])).toEqual([["from_lat", "2"], ["user_id", "1"]]);
    await expect(page.locator('#top-reasons a[href="/v1/rejections?field=from_lat"]').count()).resolves.toBe(1);
    const bars: number[] = await page.evaluate(() => (globalThis as any).Chart.getChart("rejections-per-hour").data.datasets[0].data);
    expect(bars).toHaveLength(24);
    expect(bars.reduce((sum, n) => sum + n, 0)).toBe(3);
    expect(rejectedJobId).toBeGreaterThan(0);
    expect(await page.textContent("#jobs-lost")).toBe("1");
    expect(await page.textContent("#backlog-rides")).toBe("0");
    expect(await page.textContent("#freshness-p50")).toMatch(/^\d+\.\d\d s$/);
    await expect(page.locator(`#problem-jobs a[href="/v1/jobs/${lostJobId}"]`).textContent()).resolves.toBe(String(lostJobId));

    const expected = await ridesInWindow();
    expect(expected).toBeGreaterThan(150);
    const totals: { label: string; rides: number }[] = await page.evaluate(chartTotals);
    expect(totals.map((t) => t.label)).toContain("point to point");
    expect(totals.reduce((sum, t) => sum + t.rides, 0)).toBe(expected);
    const painted = await page.evaluate(() => {
      const canvas = document.getElementById("rides-per-hour") as HTMLCanvasElement;
      const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
      let coloured = 0;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) coloured++;
      return coloured;
    });
    expect(painted).toBeGreaterThan(1000);

    // A new ride in the window: the page picks it up on its next refresh, without a reload.
    const client = createClient({ baseUrl: service.url, apiKey: INGEST });
    const sent = await client.sendRides(JSON.stringify(ride({ id: 777001 })), "application/json");
    await client.waitForJobs([sent.job_id], 15_000);
    await page.waitForFunction(() => document.getElementById("jobs-done")!.textContent === "3", null, { timeout: 15_000 });
    const after: { rides: number }[] = await page.evaluate(chartTotals);
    expect(after.reduce((sum, t) => sum + t.rides, 0)).toBe(expected + 1);

    // The key is kept for the tab's session: a reload shows the numbers without asking again.
    await page.reload();
    await page.waitForFunction(() => document.getElementById("jobs-done")!.textContent === "3");
    expect(await page.isHidden("#key-form")).toBe(true);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL("dashboard.png", ARTIFACTS).pathname, fullPage: true });
    expect(errors).toEqual([]);
    expect(browser.offsite).toEqual([]);
  });

  it("renders the API reference at /docs offline", async () => {
    const page = await browser.context.newPage();
    await page.goto(`${service.url}/docs`);
    // Rendered by the Scalar script from /openapi.json: both came from this service.
    await page.getByText("Send rides").first().waitFor({ timeout: 20_000 });
    await page.screenshot({ path: new URL("docs.png", ARTIFACTS).pathname });
    expect(browser.offsite).toEqual([]);
  });
});
