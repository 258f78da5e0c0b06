import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import path from "node:path";
import { startCommand } from "../../../bench/processes.ts";
import { freePort } from "../../../src/db/embedded.ts";

export { LEAK } from "../../support/service.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

export type ServiceProcess = {
  url: string;
  port: number;
  /** The service's node process, or with viaNpm the npm that runs it. */
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr. */
  output: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  viaNpm: boolean;
};

const started: ServiceProcess[] = [];

/** What every service process this test file started has written. */
export const allOutput = () => started.map((service) => service.output()).join("\n");

/** Kills every service process still running (a test's clean-up), and under npm the service with it. */
export async function killAllServices(): Promise<void> {
  for (const service of started) {
    if (service.viaNpm) killGroup(service.child);
    await stopServiceProcess(service, "SIGKILL");
  }
}

function killGroup(child: ChildProcess) {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // The group is gone already.
  }
}

/**
 * The service exactly as `npm start` and the container run it (its node flags included);
 * without databaseUrl it starts its embedded PostgreSQL (give env a DATA_DIR from serviceDataDir);
 * env may set DATABASE_URL too (through PgBouncer); root, a checkout of another commit (a bench's "before");
 * viaNpm runs `npm start` itself (in a process group of its own, so clean-up reaches the service under it);
 * it resolves once the output shows startedWhen (by default, once the service listens).
 */
export async function startServiceProcess(
  databaseUrl: string | undefined,
  { port, env = {}, root = ROOT, viaNpm = false, startedWhen = "rides-ingest is listening on" }: {
    port?: number;
    env?: Record<string, string>;
    root?: string;
    viaNpm?: boolean;
    startedWhen?: string;
  } = {},
): Promise<ServiceProcess> {
  const chosenPort = port ?? (await freePort());
  const { nodeFlags, script } = startCommand(root);
  const serviceEnv = { ...process.env, DATABASE_URL: databaseUrl, ...env, HOST: "127.0.0.1", PORT: String(chosenPort) };
  if (serviceEnv.DATABASE_URL === undefined) delete serviceEnv.DATABASE_URL;
  const options: SpawnOptions = { cwd: root, stdio: ["ignore", "pipe", "pipe"] };
  const child = viaNpm
    ? // npm's script runs `node` from PATH: the one these tests run on.
      spawn("npm", ["start"], { ...options, detached: true, env: { ...serviceEnv, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` } })
    : spawn(process.execPath, [...nodeFlags, script], { ...options, env: serviceEnv });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not start in 60 s:\n${output}`)), 60_000);
    const onData = () => {
      if (output.includes(startedWhen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the service exited with ${code} while starting:\n${output}`));
    });
  });
  const service = { url: `http://127.0.0.1:${chosenPort}`, port: chosenPort, child, viaNpm, output: () => output, exited };
  started.push(service);
  return service;
}

/** Sends a signal and waits for the exit (bounded), returning the exit code. */
export async function stopServiceProcess(service: ServiceProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
  if (service.child.exitCode !== null || service.child.signalCode !== null) return service.child.exitCode;
  service.child.kill(signal);
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`the service did not exit within 60 s of ${signal}`)), 60_000).unref(),
  );
  return Promise.race([service.exited, timeout]);
}
