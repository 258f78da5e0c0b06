import { stopAllClusters } from "./cluster.ts";
import { killAllServices } from "./service-process.ts";

/** After each fault test: no service process left running, no cluster left on disk. */
export async function cleanUp(): Promise<void> {
  await killAllServices();
  await stopAllClusters();
}
