import { readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { freePort } from "../../../src/db/embedded.ts";
import { programPath, serverDirectory, startListeningServer } from "./processes.ts";

const DEPLOYED = new URL("../../../deploy/haproxy.cfg", import.meta.url);

/** status: UP, DOWN, …; responses5xx: 5xx answers the replica gave; retries and redispatches: requests HAProxy sent again. */
export type ServerStats = { status: string; responses5xx: number; retries: number; redispatches: number };

export type HaProxy = {
  url: string;
  pid: number;
  /** Each replica as HAProxy sees it, by server name (rides-1, …). */
  servers: () => Promise<Record<string, ServerStats>>;
  stop: () => Promise<void>;
};

/**
 * Debian's haproxy running deploy/haproxy.cfg, with its bind, stats socket and servers
 * moved to loopback: server rides-N is the N-th of `backendPorts`.
 */
export async function startHaProxy(backendPorts: number[]): Promise<HaProxy> {
  const [port, statsPort] = [await freePort(), await freePort()];
  const servers = backendPorts.map((backend, i) => `    server rides-${i + 1} 127.0.0.1:${backend} check`).join("\n");
  let config = (await readFile(DEPLOYED, "utf8"))
    .replace(/^\s*bind .*$/m, `    bind 127.0.0.1:${port}`)
    .replace(/^\s*stats socket .*$/m, `    stats socket ipv4@127.0.0.1:${statsPort} level admin`);
  config = config.replace(/(^\s*server .*\n?)+/m, `${servers}\n`);
  const { dir, remove } = await serverDirectory("rides-haproxy-");
  const file = path.join(dir, "haproxy.cfg");
  await writeFile(file, config, { mode: 0o644 });
  const haproxy = await startListeningServer(programPath("haproxy"), ["-f", file, "-db"], port, remove);

  const command = (line: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(statsPort, "127.0.0.1");
      let answer = "";
      socket.on("data", (chunk) => (answer += chunk));
      socket.on("end", () => resolve(answer));
      socket.on("error", reject);
      socket.end(`${line}\n`);
    });

  return {
    url: `http://127.0.0.1:${port}`,
    pid: haproxy.child.pid!,
    async servers() {
      const [header, ...lines] = (await command("show stat")).trim().split("\n");
      const columns = header.replace(/^# /, "").split(",");
      const servers: Record<string, ServerStats> = {};
      for (const line of lines) {
        const row = Object.fromEntries(line.split(",").map((value, i) => [columns[i], value]));
        if (row.pxname !== "replicas" || !row.svname.startsWith("rides-")) continue;
        servers[row.svname] = {
          status: row.status,
          responses5xx: Number(row.hrsp_5xx),
          retries: Number(row.wretr),
          redispatches: Number(row.wredis),
        };
      }
      return servers;
    },
    async stop() {
      await haproxy.stop();
      await remove();
    },
  };
}
