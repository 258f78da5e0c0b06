import { PgBoss } from "pg-boss";
import { databaseUrl, serveBaseline } from "./baseline.ts";

// Baseline "queue per request": each posted ride becomes a pg-boss job, answered once
// the job is committed; a batch goes in with pg-boss's multi-job insert.
const QUEUE = "rides";
const boss = new PgBoss({ connectionString: databaseUrl, max: 8 });
boss.on("error", (error) => console.error(error.message));
await boss.start();
await boss.createQueue(QUEUE);

await serveBaseline(
  async (rides) => {
    if (rides.length === 1) await boss.send(QUEUE, rides[0]);
    else await boss.insert(QUEUE, rides.map((data) => ({ data })));
  },
  () => boss.stop({ graceful: false, close: true }),
);
