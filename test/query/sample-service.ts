import { afterAll, beforeAll } from "vitest";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { waitUntilFolded } from "../support/rollups.ts";
import { post, SAMPLE_CSV, startTestService, waitForJob } from "../support/service.ts";

/** The service on a database of this file's own, holding the 200 sample rides, folded into the rollups, once its beforeAll has run. */
export function withSampleRides(env: Record<string, string> = {}) {
  const context = {} as { db: TestDatabase; service: Service };
  beforeAll(async () => {
    context.db = await createTestDatabase();
    context.service = await startTestService(context.db.url, env);
    const { body } = await post(context.service.url, SAMPLE_CSV, "text/csv");
    await waitForJob(context.service.url, body.job_id);
    await waitUntilFolded(context.db.pool);
  });
  afterAll(async () => {
    await context.service?.stop();
    await context.db?.drop();
  });
  return context;
}
