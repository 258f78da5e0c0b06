import { afterAll, expect, it } from "vitest";
import { holdMover } from "../support/locks.ts";
import { post, ride, waitForJob } from "../support/service.ts";
import { startCluster } from "./support/cluster.ts";
import { cleanUp } from "./support/clean-up.ts";
import { type Sent, report, settle } from "./support/load.ts";
import { allOutput, LEAK, startServiceProcess } from "./support/service-process.ts";

afterAll(cleanUp);

const POISON_USER = 66_666;

it("fault 4: a payload the database refuses during the move fails alone, with the reason; the jobs around it are done", async () => {
  const cluster = await startCluster();
  // Valid to the intake, refused by the database: as if the schema had gained a rule the service does not know.
  await cluster.pool.query(`ALTER TABLE rides ADD CONSTRAINT fault_poison CHECK (user_id <> ${POISON_USER})`);
  const service = await startServiceProcess(cluster.url);

  // The mover waits while the jobs arrive, so the poison job shares its chunk with its neighbours.
  const releaseMover = await holdMover(cluster.url);
  const sent: Sent[] = [];
  for (let i = 0; i < 30; i++) {
    const ids = [4_000_000 + i * 2, 4_000_000 + i * 2 + 1];
    const rides = ids.map((id) => ride({ id, user_id: i === 15 && id % 2 === 1 ? POISON_USER : 17 }));
    const answer = await post(service.url, JSON.stringify(rides), "application/json");
    sent.push({ ids, status: answer.status, jobId: answer.body.job_id, ms: 0, at: Date.now() });
  }
  await releaseMover();
  const poisonJob = sent[15].jobId!;
  const failed = await waitForJob(service.url, poisonJob, 60_000);

  const outcome = await settle(service.url, cluster.pool, sent);
  report("fault 4: poison payload", outcome);
  expect(sent.every((s) => s.status === 202)).toBe(true);
  expect(failed).toMatchObject({ status: "failed", accepted: 2, stored: 0, failed: 2 });
  expect(failed.error).toBe('the database refused the rides: new row for relation "rides_2013_01" violates check constraint "fault_poison"');
  expect(outcome).toMatchObject({ acknowledged: 60, stored: 58, failed: 2, lost: 0, queued: 0, missingFromDone: 0 });
  const statuses = await cluster.pool.query("SELECT id, status FROM jobs WHERE id = ANY($1) ORDER BY id", [sent.map((s) => s.jobId)]);
  expect(statuses.rows.filter((row) => row.status !== "done").map((row) => row.id)).toEqual([poisonJob]);
  expect(allOutput()).not.toMatch(LEAK);
});
