import { readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

export type Received = { headers: IncomingHttpHeaders; body: string; at: number };

/**
 * A real webhook receiver on a loopback port: answers each POST with what `answer` says
 * for that attempt (a status, or "hang": never answer), keeping what it received.
 */
export async function startReceiver(answer: (attempt: number) => number | "hang") {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ headers: req.headers, body, at: Date.now() });
      const reply = answer(received.length);
      if (reply === "hang") return;
      res.writeHead(reply, { "content-type": "text/plain" }).end(reply < 300 ? "ok" : "not now");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/rides-hook`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** docs/notifications.md's verification snippet, loaded as the module a receiver would write. */
export async function documentedVerifier(): Promise<(header: string, body: string, secret: string, toleranceSeconds?: number, now?: number) => boolean> {
  const doc = readFileSync(new URL("../../docs/notifications.md", import.meta.url), "utf8");
  const snippet = /```js verify-signature\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!snippet) throw new Error("docs/notifications.md has no ```js verify-signature block");
  const file = path.join(await mkdtemp(path.join(tmpdir(), "verify-")), "verify.mjs");
  await writeFile(file, `${snippet}\nexport { verifyRidesSignature };\n`);
  return (await import(file)).verifyRidesSignature;
}
