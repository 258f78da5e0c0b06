import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

/** Debian's chromium package; CI installs it (.ci/run). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export type Browser = { context: BrowserContext; offsite: string[]; close: () => Promise<void> };

/**
 * Headless system Chromium with a fresh profile and nothing that phones home. Every
 * request that leaves `origin` is refused and recorded, so a test can prove a page
 * needs nothing from the internet.
 */
export async function openBrowser(origin: string): Promise<Browser> {
  const profile = await mkdtemp(path.join(tmpdir(), "rides-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const offsite: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
    offsite.push(url);
    return route.abort();
  });
  return {
    context,
    offsite,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
