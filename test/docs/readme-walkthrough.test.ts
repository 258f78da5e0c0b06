import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it, vi } from "vitest";
import { withTestService } from "../support/service.ts";

/**
 * The README's walk-through, run as printed: every curl command of its block is sent to
 * a real service on a new database (as `npm start` gives a new user), from the root of
 * the repository (so `@data/…` is the clone's own file), and each answer must have the
 * status, headers and JSON shape that the README shows under it. Values must match
 * too, except times, which only have to be times.
 */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const README = readFileSync(new URL("README.md", `file://${ROOT}`), "utf8");
const PRINTED_URL = "http://127.0.0.1:3000";

type Step = { command: string; expected: string[] };
type Request = { method: string; url: string; headers: Record<string, string>; body?: Uint8Array<ArrayBuffer>; showHeaders: boolean };

/**
 * The ```sh block under "## Walk-through": commands (with `\` continuations) and the `# `
 * lines right after each (its answer); `# ` lines after a blank line are prose for the next.
 */
function walkthrough(): Step[] {
  const block = /## Walk-through\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(README)?.[1];
  if (!block) throw new Error("README.md has no ```sh block under ## Walk-through");
  const steps: Step[] = [];
  let pending = "";
  let answering = false;
  for (const line of block.split("\n")) {
    if (pending || line.startsWith("curl ")) {
      pending += line.replace(/\\$/, " ");
      if (!line.endsWith("\\")) steps.push({ command: pending, expected: [] }), (pending = ""), (answering = true);
    } else if (line.trim() === "") {
      answering = false;
    } else if (line.startsWith("# ") && answering) {
      steps.at(-1)!.expected.push(line.slice(2));
    } else if (!line.startsWith("#")) {
      throw new Error(`the walk-through has a command this test cannot run: ${line}`);
    }
  }
  return steps;
}

/** Shell words with single quotes, enough for the README's curl lines. */
const words = (command: string) =>
  [...command.matchAll(/'([^']*)'|(\S+)/g)].map((match) => match[1] ?? match[2]);

function parseCurl(command: string, baseUrl: string): Request {
  const args = words(command).slice(1);
  const request: Request = { method: "GET", url: "", headers: {}, showHeaders: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-H") {
      const [name, ...value] = args[++i].split(":");
      request.headers[name.trim().toLowerCase()] = value.join(":").trim();
    } else if (arg === "--data-binary" || arg === "-d") {
      const data = args[++i];
      request.body = data.startsWith("@") ? new Uint8Array(readFileSync(inClone(data.slice(1)))) : new TextEncoder().encode(data);
      request.method = "POST";
    } else if (/^-[si]+$/.test(arg)) {
      request.showHeaders ||= arg.includes("i");
    } else if (arg.startsWith(PRINTED_URL)) {
      request.url = baseUrl + arg.slice(PRINTED_URL.length);
    } else {
      throw new Error(`curl option this test does not know: ${arg}`);
    }
  }
  if (request.body && !request.headers["content-type"]) request.headers["content-type"] = "application/x-www-form-urlencoded";
  return request;
}

/** A file the README names must be in the clone: a reader has nothing beside it. */
function inClone(file: string): string {
  const absolute = path.resolve(ROOT, file);
  if (!absolute.startsWith(ROOT)) throw new Error(`the walk-through reads ${file}, outside the repository`);
  return absolute;
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** The printed value with its times replaced by the real ones where those are times too. */
function alignTimes(printed: unknown, actual: unknown): unknown {
  if (typeof printed === "string" && ISO_TIME.test(printed) && typeof actual === "string" && ISO_TIME.test(actual)) return actual;
  if (Array.isArray(printed) && Array.isArray(actual)) return printed.map((item, i) => alignTimes(item, actual[i]));
  if (printed && typeof printed === "object" && actual && typeof actual === "object") {
    return Object.fromEntries(
      Object.entries(printed).map(([key, value]) => [key, alignTimes(value, (actual as Record<string, unknown>)[key])]),
    );
  }
  return printed;
}

const running = withTestService();

it("README's walk-through answers as printed", async () => {
  const steps = walkthrough();
  expect(steps.length).toBeGreaterThanOrEqual(3);
  for (const { command, expected } of steps) {
    const request = parseCurl(command, running.service.url);
    const statusLine = expected.find((line) => line.startsWith("HTTP/1.1 "));
    const headerLines = expected.filter((line) => /^[a-z-]+: /.test(line));
    const printed = JSON.parse(expected.filter((line) => line !== statusLine && !headerLines.includes(line)).join(""));
    expect(Boolean(statusLine), `${command}: -i shows the status line`).toBe(request.showHeaders);

    const answersAsPrinted = async () => {
      const response = await fetch(request.url, { method: request.method, headers: request.headers, body: request.body });
      const body = await response.json();
      if (statusLine) expect(`HTTP/1.1 ${response.status} ${response.statusText}`, command).toBe(statusLine);
      else expect(response.status, command).toBe(200);
      for (const line of headerLines) {
        const [name, value] = line.split(": ");
        expect(response.headers.get(name), `${command}: header ${name}`).toBe(value);
      }
      expect(body, command).toEqual(alignTimes(printed, body));
    };
    // A reader types the next command a moment later, when the mover has stored the
    // rides; a GET may be asked again until then, a POST only once.
    if (request.method === "GET") await vi.waitFor(answersAsPrinted, { timeout: 5_000, interval: 100 });
    else await answersAsPrinted();
  }
});
