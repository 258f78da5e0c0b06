import { writeFile } from "node:fs/promises";
import path from "node:path";
import { freePort } from "../../../src/db/embedded.ts";
import { listening, programPath, serverDirectory, startServer } from "./processes.ts";

export type PgBouncer = {
  port: number;
  /** PgBouncer's admin console (SHOW CLIENTS, SHOW POOLS). */
  adminUrl: string;
  /** The same database URL, through PgBouncer. */
  through: (url: string) => string;
  stop: () => Promise<void>;
};

/**
 * A real PgBouncer in transaction pooling mode in front of the PostgreSQL at `serverUrl`,
 * on a free loopback port: every database of that server, the user and password of
 * serverUrl. Its settings are deploy/pgbouncer.ini's, with the addresses filled in.
 */
export async function startPgBouncer(serverUrl: string, { poolSize = 20 }: { poolSize?: number } = {}): Promise<PgBouncer> {
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  const port = await freePort();
  const { dir, remove } = await serverDirectory("rides-pgbouncer-");
  const ini = path.join(dir, "pgbouncer.ini");
  await writeFile(path.join(dir, "users.txt"), `"${user}" "${password}"\n`, { mode: 0o644 });
  await writeFile(
    ini,
    `[databases]
* = host=${server.hostname} port=${server.port} user=${user} password=${password}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${path.join(dir, "users.txt")}
pool_mode = transaction
default_pool_size = ${poolSize}
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits,options,application_name
admin_users = ${user}
`,
    { mode: 0o644 },
  );
  const bouncer = startServer(programPath("pgbouncer"), [ini]);
  try {
    await listening(port, bouncer);
  } catch (error) {
    await bouncer.stop();
    await remove();
    throw error;
  }
  const admin = new URL(serverUrl);
  admin.port = String(port);
  admin.pathname = "/pgbouncer";
  return {
    port,
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
