import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Context } from "hono";

/** A file shipped inside an installed package, found next to the package's entry point (exports maps hide the rest). */
export function packageFile(packageName: string, relativeToEntry: string): string {
  return fileURLToPath(new URL(relativeToEntry, import.meta.resolve(packageName)));
}

/** Serves one file from disk, read once on first use; browsers may cache it for a day. */
export function serveFile(path: string, contentType: string) {
  let content: Promise<Buffer> | undefined;
  return async (c: Context) => {
    content ??= readFile(path);
    return c.body(new Uint8Array(await content), 200, { "content-type": contentType, "cache-control": "public, max-age=86400" });
  };
}
