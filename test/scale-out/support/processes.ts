import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

/** The Debian packages the scale-out run needs, with the program each provides. */
const PROGRAMS = {
  pgbouncer: { file: "/usr/sbin/pgbouncer", debian: "pgbouncer" },
  haproxy: { file: "/usr/sbin/haproxy", debian: "haproxy" },
  postgres15: { file: "/usr/lib/postgresql/15/bin/pg_basebackup", debian: "postgresql-15" },
} as const;
export type Program = keyof typeof PROGRAMS;

export const programPath = (program: Program): string => {
  const { file } = PROGRAMS[program];
  const onPath = program === "postgres15" ? undefined : whichOrUndefined(program);
  return onPath ?? file;
};

function whichOrUndefined(name: string): string | undefined {
  try {
    return execFileSync("which", [name], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Fails with one message naming every missing Debian package. */
export function requirePrograms(programs: Program[]): void {
  const missing = programs.filter((program) => !existsSync(programPath(program)));
  if (missing.length > 0) {
    const packages = missing.map((program) => PROGRAMS[program].debian).join(" ");
    throw new Error(`npm run test:scale-out needs ${missing.join(", ")}: apt-get install -y ${packages}`);
  }
}

/** PgBouncer and PostgreSQL refuse to run as root: as root they run as the postgres user. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((entry) => entry.startsWith("postgres:"));
  if (!line) throw new Error("running as root needs a postgres user for PgBouncer and PostgreSQL (Debian's postgresql-common creates it)");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

const children = new Set<ChildProcess>();
const directories = new Set<string>();
// However this process ends, a test or bench leaves no server and no directory behind.
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
});

/** A temp directory the server user may read and write; removed by the returned function. */
export async function serverDirectory(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  directories.add(dir);
  const user = serverUser();
  if (user) execFileSync("chown", [`${user.uid}:${user.gid}`, dir]);
  await chmod(dir, 0o755);
  return {
    dir,
    async remove() {
      await rm(dir, { recursive: true, force: true });
      directories.delete(dir);
    },
  };
}

export type Server = {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** SIGTERM unless told (PostgreSQL: SIGINT is its fast shutdown), SIGKILL after 10 s. */
  stop: (signal?: NodeJS.Signals) => Promise<void>;
};

/** A server program in the foreground, as the server user when we are root. */
export function startServer(command: string, args: string[], env: Record<string, string> = {}): Server {
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
    ...serverUser(),
  });
  children.add(child);
  let output = "";
  child.stdout!.on("data", (chunk) => (output = (output + chunk).slice(-8000)));
  child.stderr!.on("data", (chunk) => (output = (output + chunk).slice(-8000)));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return {
    child,
    output: () => output,
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resolves once something accepts TCP connections on the port (bounded). */
export async function listening(port: number, server: Server, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.child.exitCode !== null) throw new Error(`the server exited with ${server.child.exitCode}:\n${server.output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms:\n${server.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** startServer, resolved once it listens on `port`; one that never does is stopped and `cleanUp` runs. */
export async function startListeningServer(command: string, args: string[], port: number, cleanUp: () => Promise<void>): Promise<Server> {
  const server = startServer(command, args);
  try {
    await listening(port, server);
  } catch (error) {
    await server.stop();
    await cleanUp();
    throw error;
  }
  return server;
}
