import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { startEmbedded } from "../../src/db/embedded.ts";
import { serviceDataDir } from "./support/cluster.ts";
import { cleanUp } from "./support/clean-up.ts";
import { startServiceProcess } from "./support/service-process.ts";

afterAll(cleanUp);

it("fault 10: an embedded PostgreSQL still running in DATA_DIR (its service SIGKILLed): the next start says why it cannot start and exits 1", async () => {
  const env = { DATA_DIR: await serviceDataDir() };
  // What a SIGKILLed service leaves: its PostgreSQL, running on in the data folder.
  const leftRunning = await startEmbedded(path.join(env.DATA_DIR, "postgres"));
  try {
    await expect(startServiceProcess(undefined, { env })).rejects.toThrow(
      /exited with 1 while starting:[\s\S]*could not start: the embedded PostgreSQL in \S+ did not start: .*lock file "postmaster.pid" already exists.*HINT: {2}Is another postmaster \(PID \d+\) running/,
    );
  } finally {
    await leftRunning.stop();
  }
});
