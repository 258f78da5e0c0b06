import { execFileSync } from "node:child_process";
import path from "node:path";
import { freePort } from "../../../src/db/embedded.ts";
import { listening, programPath, type Server, serverDirectory, serverUser, startServer } from "./processes.ts";

const bin = (program: string) => path.join(path.dirname(programPath("postgres15")), program);

export type Postgres15 = {
  url: string;
  port: number;
  dataDir: string;
  server: Server;
  /** Fast shutdown; start() brings it back on the same port. */
  stop: () => Promise<void>;
  start: () => Promise<void>;
};

const run = (program: string, args: string[]) =>
  execFileSync(bin(program), args, { ...serverUser(), stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });

async function serve(dataDir: string, settings: string[]): Promise<Postgres15> {
  const port = await freePort();
  const flags = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", ...settings.flatMap((s) => ["-c", s])];
  const instance: Postgres15 = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    server: undefined as unknown as Server,
    stop: () => instance.server.stop("SIGINT"),
    async start() {
      instance.server = startServer(bin("postgres"), ["-D", dataDir, "-p", String(port), ...flags]);
      await listening(port, instance.server);
      // Listening is not accepting yet: a standby first reaches a consistent state.
      for (let attempt = 0; attempt < 200; attempt++) {
        try {
          run("pg_isready", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres"]);
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      throw new Error(`PostgreSQL 15 on ${port} never accepted connections:\n${instance.server.output()}`);
    },
  };
  await instance.start();
  return instance;
}

/**
 * The machine's PostgreSQL 15 as a throwaway primary (trust on loopback only) and, from
 * it, a hot standby made by pg_basebackup -R streaming from it. stop() removes both.
 */
export async function startPrimaryAndStandby({ standbySettings = [] }: { standbySettings?: string[] } = {}) {
  const { dir, remove } = await serverDirectory("rides-pg15-");
  const primaryDir = path.join(dir, "primary");
  const standbyDir = path.join(dir, "standby");
  run("initdb", ["-D", primaryDir, "-U", "postgres", "--auth=trust", "--no-sync"]);
  const primary = await serve(primaryDir, []);
  run("pg_basebackup", ["-h", "127.0.0.1", "-p", String(primary.port), "-U", "postgres", "-D", standbyDir, "-R", "-X", "stream", "--no-sync"]);
  const standby = await serve(standbyDir, ["hot_standby=on", ...standbySettings]);
  return {
    primary,
    standby,
    async stop() {
      await standby.stop();
      await primary.stop();
      await remove();
    },
  };
}
