import { readFileSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort, startEmbedded } from "../../../src/db/embedded.ts";
import { applyMigrations } from "../../../src/db/migrate.ts";
import { type PgBouncer, startPgBouncer } from "../../scale-out/support/pgbouncer.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until check() is true; fails naming what it waited for. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export const HARNESS_APPLICATION = "rides-test-harness";

export type Cluster = {
  /** The database itself (DIRECT_DATABASE_URL: sessions, the test's own checks and locks). */
  url: string;
  /** A service's database settings: DATABASE_URL through PgBouncer when the cluster has one, DIRECT_DATABASE_URL past it. */
  serviceEnv: { DATABASE_URL: string; DIRECT_DATABASE_URL: string };
  bouncer?: PgBouncer;
  /** A pool for the test's own checks; its clients survive the cluster's restarts. */
  pool: pg.Pool;
  /** Signals the postmaster: SIGINT is a fast shutdown, SIGQUIT an immediate one (a crash), SIGKILL a kill. */
  shutDown: (signal: "SIGINT" | "SIGQUIT" | "SIGKILL") => Promise<void>;
  start: () => Promise<void>;
  stop: () => Promise<void>;
  /** The running postmaster's pid (its backends are its children). */
  postmasterPid: () => number;
};

/** The pid in a running cluster's postmaster.pid. */
export const postmasterPidIn = (dataDir: string) => Number(readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);

const clusters: Cluster[] = [];
/** Data folders of clusters still starting: a run stopped meanwhile removes them too. */
const starting = new Set<string>();

/** Folders given to services as DATA_DIR, each for the embedded PostgreSQL `npm start` runs without DATABASE_URL. */
const serviceDataDirs = new Set<string>();

/** A DATA_DIR for a service's own embedded PostgreSQL; clean-up stops that cluster if the service left it running. */
export async function serviceDataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "rides-fault-service-"));
  // The cluster runs as the postgres user (we may be root), in a folder under this one.
  await chmod(dir, 0o755);
  serviceDataDirs.add(dir);
  return dir;
}

async function killAndRemove(dataDir: string) {
  try {
    const pid = postmasterPidIn(dataDir);
    process.kill(pid, "SIGKILL");
    await until(`postmaster ${pid} to exit`, () => !alive(pid), 10_000);
  } catch {
    // not started yet, or gone already
  }
  // Its backends may still be writing for a moment after the postmaster is gone.
  await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
}

/** Stops and deletes every cluster started so far (a test's clean-up). */
export async function stopAllClusters(): Promise<void> {
  for (const cluster of clusters.splice(0)) await cluster.stop();
  for (const dataDir of starting) {
    await killAndRemove(dataDir);
    starting.delete(dataDir);
  }
  for (const dir of serviceDataDirs) {
    await killAndRemove(path.join(dir, "postgres"));
    await rm(dir, { recursive: true, force: true });
    serviceDataDirs.delete(dir);
  }
}

/**
 * A throwaway PostgreSQL cluster of the test's own (never the machine's shared one),
 * migrated, on a fixed port so it comes back at the same address after a restart;
 * with `pgbouncer`, a PgBouncer in transaction pooling mode in front of it.
 */
export async function startCluster(
  { durability = "unlogged", pgbouncer = false, settings = [] }: { durability?: "unlogged" | "logged"; pgbouncer?: boolean; settings?: string[] } = {},
): Promise<Cluster> {
  // The cluster runs as the postgres user (we may be root), so its data folder is the temp folder itself.
  const dataDir = await mkdtemp(path.join(tmpdir(), "rides-fault-"));
  starting.add(dataDir);
  const port = await freePort();
  let server = await startEmbedded(dataDir, port, settings);
  await applyMigrations(server.url, durability);
  const bouncer = pgbouncer ? await startPgBouncer(server.url) : undefined;
  // Named, so a count of the service's connections can leave the harness's own out.
  const pool = new pg.Pool({ connectionString: server.url, max: 4, application_name: HARNESS_APPLICATION });
  pool.on("error", () => {});
  let running = true;

  const postmasterPid = () => postmasterPidIn(dataDir);

  async function start() {
    // After a SIGKILL the old backends may hold shared memory for a moment; retry until they are gone.
    let lastError: unknown;
    for (let attempt = 0; attempt < 40; attempt++) {
      try {
        server = await startEmbedded(dataDir, port, settings);
        running = true;
        return;
      } catch (error) {
        lastError = error;
        await sleep(500);
      }
    }
    throw new Error(`the cluster did not start again: ${String(lastError)}`);
  }

  const cluster: Cluster = {
    url: server.url,
    serviceEnv: { DATABASE_URL: bouncer?.through(server.url) ?? server.url, DIRECT_DATABASE_URL: server.url },
    bouncer,
    pool,
    async shutDown(signal) {
      const pid = postmasterPid();
      process.kill(pid, signal);
      await until(`postmaster ${pid} to exit`, () => !alive(pid), 60_000);
      running = false;
    },
    start,
    postmasterPid,
    async stop() {
      await bouncer?.stop();
      await pool.end();
      if (running) await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  clusters.push(cluster);
  starting.delete(dataDir);
  return cluster;
}
