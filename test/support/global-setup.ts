import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { PgBoss } from "pg-boss";
import type { TestProject } from "vitest/node";
import { startEmbedded } from "../../src/db/embedded.ts";
import { applyMigrations } from "../../src/db/migrate.ts";

declare module "vitest" {
  export interface ProvidedContext {
    serverUrl: string;
    templateDatabase: string;
    /** Set when the services under test reach DATABASE_URL through PgBouncer (npm run test:scale-out). */
    pgbouncerPort?: number;
    /** Fault tests 1 and 7 put a PgBouncer between their services and cluster (npm run test:scale-out). */
    faultsThroughPgBouncer?: boolean;
  }
}

/**
 * One PostgreSQL for the run (DATABASE_URL, else an embedded one) and one template
 * database migrated once; every test file clones the template into its own database.
 */
export default async function setup(project: TestProject) {
  let stopEmbedded: (() => Promise<void>) | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const dir = await mkdtemp(path.join(tmpdir(), "rides-ingest-test-"));
    const embedded = await startEmbedded(dir);
    serverUrl = embedded.url;
    stopEmbedded = async () => {
      await embedded.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const template = `rides_test_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${template}`);
  await admin.query(`CREATE DATABASE ${template}`);
  const templateUrl = withDatabase(serverUrl, template);
  await applyMigrations(templateUrl, "unlogged");
  const boss = new PgBoss(templateUrl);
  await boss.start();
  await boss.stop({ graceful: false, close: true });

  project.provide("serverUrl", serverUrl);
  project.provide("templateDatabase", template);

  return async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    await admin.end();
    await stopEmbedded?.();
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
