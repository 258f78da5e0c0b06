import { type ChildProcess, spawn } from "node:child_process";
import { startCommand } from "../../../bench/processes.ts";
import { freePort } from "../../../src/db/embedded.ts";

export { LEAK } from "../../support/service.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

export type ServiceProcess = {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr. */
  output: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
};

const started: ServiceProcess[] = [];

/** What every service process this test file started has written. */
export const allOutput = () => started.map((service) => service.output()).join("\n");

/** Kills every service process still running (a test's clean-up). */
export async function killAllServices(): Promise<void> {
  for (const service of started) await stopServiceProcess(service, "SIGKILL");
}

/**
 * The service exactly as `npm start` and the container run it (its node flags included);
 * env may set DATABASE_URL too (through PgBouncer); root, a checkout of another commit (a bench's "before").
 */
export async function startServiceProcess(
  databaseUrl: string,
  { port, env = {}, root = ROOT }: { port?: number; env?: Record<string, string>; root?: string } = {},
): Promise<ServiceProcess> {
  const chosenPort = port ?? (await freePort());
  const { nodeFlags, script } = startCommand(root);
  const child = spawn(process.execPath, [...nodeFlags, script], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl, ...env, HOST: "127.0.0.1", PORT: String(chosenPort) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not start in 60 s:\n${output}`)), 60_000);
    const onData = () => {
      if (output.includes("rides-ingest is listening on")) {
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
  const service = { url: `http://127.0.0.1:${chosenPort}`, port: chosenPort, child, output: () => output, exited };
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
