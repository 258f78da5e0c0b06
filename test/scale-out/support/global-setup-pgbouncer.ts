import type { TestProject } from "vitest/node";
import setup from "../../support/global-setup.ts";
import { startPgBouncer } from "./pgbouncer.ts";
import { requirePrograms } from "./processes.ts";

/**
 * The usual test PostgreSQL and template, with a real PgBouncer in transaction pooling
 * mode in front: every service a test starts reaches DATABASE_URL through it and
 * DIRECT_DATABASE_URL past it (test/support/service.ts).
 */
export default async function setupThroughPgBouncer(project: TestProject) {
  requirePrograms(["pgbouncer"]);
  const teardown = await setup(project);
  const bouncer = await startPgBouncer(project.getProvidedContext().serverUrl);
  project.provide("pgbouncerPort", bouncer.port);
  return async () => {
    await bouncer.stop();
    await teardown();
  };
}
