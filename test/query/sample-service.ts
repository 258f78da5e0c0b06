import { beforeAll } from "vitest";
import { waitUntilFolded } from "../support/rollups.ts";
import { post, SAMPLE_CSV, waitForJob, withTestService } from "../support/service.ts";

/** The service on a database of this file's own, holding the 200 sample rides, folded into the rollups, once its beforeAll has run. */
export function withSampleRides(env: Record<string, string> = {}) {
  const context = withTestService(env);
  beforeAll(async () => {
    const { body } = await post(context.service.url, SAMPLE_CSV, "text/csv");
    await waitForJob(context.service.url, body.job_id);
    await waitUntilFolded(context.db.pool);
  });
  return context;
}
