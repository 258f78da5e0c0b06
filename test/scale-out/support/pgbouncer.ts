import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { freePort } from "../../../src/db/embedded.ts";
import { programPath, serverDirectory, startListeningServer } from "./processes.ts";

const DEPLOYED = new URL("../../../deploy/pgbouncer.ini", import.meta.url);

export type PgBouncer = {
  port: number;
  pid: number;
  /** PgBouncer's admin console (SHOW CLIENTS, SHOW POOLS). */
  adminUrl: string;
  /** The same database URL, through PgBouncer. */
  through: (url: string) => string;
  stop: () => Promise<void>;
};

/**
 * A real PgBouncer in transaction pooling mode in front of the PostgreSQL at `serverUrl`,
 * on a free loopback port: every database of that server, the user and password of
 * serverUrl. Its settings are deploy/pgbouncer.ini's, with the addresses, trust on
 * loopback and the admin user filled in.
 */
export async function startPgBouncer(serverUrl: string, { poolSize = 20 }: { poolSize?: number } = {}): Promise<PgBouncer> {
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  const port = await freePort();
  const { dir, remove } = await serverDirectory("rides-pgbouncer-");
  const ini = path.join(dir, "pgbouncer.ini");
  await writeFile(path.join(dir, "users.txt"), `"${user}" "${password}"\n`, { mode: 0o644 });
  const settings: Record<string, string> = {
    listen_addr: "127.0.0.1",
    listen_port: String(port),
    auth_type: "trust",
    auth_file: path.join(dir, "users.txt"),
    default_pool_size: String(poolSize),
    admin_users: user,
  };
  let config = (await readFile(DEPLOYED, "utf8")).replace(
    /^\* = .*$/m,
    `* = host=${server.hostname} port=${server.port} user=${user}${password ? ` password=${password}` : ""}`,
  );
  for (const [key, value] of Object.entries(settings)) config = config.replace(new RegExp(`^${key} = .*$`, "m"), `${key} = ${value}`);
  await writeFile(ini, config, { mode: 0o644 });
  const bouncer = await startListeningServer(programPath("pgbouncer"), [ini], port, remove);
  const admin = new URL(serverUrl);
  admin.port = String(port);
  admin.pathname = "/pgbouncer";
  return {
    port,
    pid: bouncer.child.pid!,
    adminUrl: admin.toString(),
    through(url) {
      const parsed = new URL(url);
      parsed.port = String(port);
      return parsed.toString();
    },
    async stop() {
      await bouncer.stop();
      await remove();
    },
  };
}
