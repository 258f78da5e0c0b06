import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { freePort } from "../src/db/embedded.ts";

export type ServerKind = "service" | "naive" | "queue";

const ROOT = new URL("../", import.meta.url).pathname;

/** The node flags and the script `npm start` runs the service with, in the checkout at root (another commit's, say). */
export function startCommand(root = ROOT) {
  const words: string[] = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).scripts.start.split(" ");
  return { nodeFlags: words.filter((word) => word.startsWith("--")), script: words.at(-1)! };
}
// The service runs exactly as `npm start` runs it (its node flags included); the
// baselines get the same flags so only the design differs.
const START = startCommand();
const SCRIPTS: Record<ServerKind, string> = {
  service: START.script,
  naive: "bench/servers/naive.ts",
  queue: "bench/servers/queue.ts",
};
const children = new Set<ChildProcess>();

/** Every child still running is killed when the bench exits, however it exits. */
export function killChildren() {
  for (const child of children) child.kill("SIGKILL");
}

/** A node child running script; its stderr is kept for error messages. */
export function startNode(script: string, args: string[], env: Record<string, string>, nodeFlags = ["--experimental-strip-types"]) {
  const child = spawn(process.execPath, [...nodeFlags, script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stderr = "";
  let stdout = "";
  child.stderr!.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  child.stdout!.on("data", (chunk) => (stdout += chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, exited, stderr: () => stderr, stdout: () => stdout };
}

/** Runs a load generator child to its end and returns what it printed as JSON. */
export async function runLoad<T>(script: string, input: unknown): Promise<T> {
  const load = startNode(script, [JSON.stringify(input)], {});
  const code = await load.exited;
  if (code !== 0) throw new Error(`${script} exited with ${code}: ${load.stderr()}`);
  return JSON.parse(load.stdout()) as T;
}

export type Server = {
  kind: ServerKind;
  url: string;
  peakRssMb: () => number | undefined;
  /** CPU seconds the process has used so far, all its threads (NaN off Linux). */
  cpuSeconds: () => number;
  stdout: () => string;
  stop: () => Promise<void>;
};

// /proc counts CPU time in clock ticks, 100 a second on Linux.
const TICKS_PER_SECOND = 100;

/** CPU seconds a process has used, with `withReaped` also its children that it waited for (NaN where /proc cannot tell). */
export function cpuSeconds(pid: number, withReaped = false): number {
  try {
    // utime, stime, cutime and cstime are the 14th to 17th fields, counted after the command's closing parenthesis.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    const [user, system, childUser, childSystem] = [11, 12, 13, 14].map((i) => Number(fields[i]));
    return (user + system + (withReaped ? childUser + childSystem : 0)) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** PostgreSQL's CPU seconds: the postmaster with the backends it reaped, plus its live backends. */
export function postgresCpuSeconds(postmaster: number): number {
  let total = cpuSeconds(postmaster, true);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = Number(readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1].split(" ")[1]);
      if (parent === postmaster) total += cpuSeconds(Number(entry));
    } catch {
      // the backend exited while being read
    }
  }
  return total;
}

/** Seconds the machine's cores have been busy in all (every process, the kernel's work included), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    // cpu  user nice system idle iowait irq softirq steal …: all but idle and iowait are busy.
    const [user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8").split("\n")[0].split(/\s+/).slice(1).map(Number);
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** A server in its own process, so its peak RSS is its own and the load runs beside it. */
/** `env` adds settings to the service's (a bench scenario's WEBHOOK_URLS, say). */
export async function startServer(kind: ServerKind, databaseUrl: string, cpuProfileDir?: string, env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const flags = [...START.nodeFlags, ...(cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfileDir}`] : [])];
  const server = startNode(SCRIPTS[kind], [], { ...env, DATABASE_URL: databaseUrl, HOST: "127.0.0.1", PORT: String(port) }, flags);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.child.exitCode !== null) throw new Error(`${kind} server exited: ${server.stderr()}`);
    const ready = await fetch(`${url}${kind === "service" ? "/readyz" : "/healthz"}`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`${kind} server not ready after 60 s: ${server.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    kind,
    url,
    stdout: server.stdout,
    peakRssMb() {
      // VmHWM: the most resident memory the process ever had (Linux only).
      try {
        const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.child.pid}/status`, "utf8"));
        return match ? Number(match[1]) / 1024 : undefined;
      } catch {
        return undefined;
      }
    },
    cpuSeconds: () => cpuSeconds(server.child.pid!),
    async stop() {
      server.child.kill("SIGTERM");
      const timer = setTimeout(() => server.child.kill("SIGKILL"), 30_000);
      await server.exited;
      clearTimeout(timer);
    },
  };
}
