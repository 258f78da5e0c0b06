import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

/**
 * The browser for `npm run test:browser`: CHROMIUM_PATH if set, else Debian's chromium
 * package (CI installs it), else one that `npx playwright install chromium` downloaded.
 */
export function findChromium(): string {
  const chosen = process.env.CHROMIUM_PATH;
  if (chosen) {
    if (!existsSync(chosen)) throw new Error(`CHROMIUM_PATH=${chosen} does not exist`);
    return chosen;
  }
  const found = ["/usr/bin/chromium", chromium.executablePath()].find((candidate) => existsSync(candidate));
  if (found) return found;
  throw new Error(
    "npm run test:browser needs Chromium and found none: install Debian's (apt-get install chromium), " +
      "or let Playwright fetch one (npx playwright install chromium), or set CHROMIUM_PATH to a Chromium or Chrome binary",
  );
}

export type Browser = { context: BrowserContext; offsite: string[]; close: () => Promise<void> };

/**
 * Headless system Chromium with a fresh profile and nothing that phones home. Every
 * request that leaves `origin` is refused and recorded, so a test can prove a page
 * needs nothing from the internet.
 */
export async function openBrowser(origin: string): Promise<Browser> {
  const profile = await mkdtemp(path.join(tmpdir(), "rides-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: findChromium(),
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
