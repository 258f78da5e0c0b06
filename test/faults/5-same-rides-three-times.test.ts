import { afterAll, expect, it } from "vitest";
import { ride } from "../support/service.ts";
import { startCluster } from "./support/cluster.ts";
import { cleanUp } from "./support/clean-up.ts";
import { type Sent, report, settle } from "./support/load.ts";
import { allOutput, LEAK, startServiceProcess } from "./support/service-process.ts";

afterAll(cleanUp);

it("fault 5: the same 10,000 rides sent three times concurrently are 10,000 rows", async () => {
  const cluster = await startCluster();
  const service = await startServiceProcess(cluster.url);
  const batches = Array.from({ length: 20 }, (_, b) => Array.from({ length: 500 }, (_, i) => 5_000_000 + b * 500 + i));
  // Each copy differs in a field, so the row that stays is the last one stored.
  const requests = [0, 1, 2].flatMap((copy) => batches.map((ids) => ({ ids, copy })));
  const sent: Sent[] = await Promise.all(
    requests.map(async ({ ids, copy }): Promise<Sent> => {
      const at = Date.now();
      const response = await fetch(`${service.url}/v1/rides`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(ids.map((id) => ride({ id, user_id: copy + 1 }))),
        signal: AbortSignal.timeout(60_000),
      });
      const body = (await response.json()) as { job_id: number };
      return { ids, status: response.status, jobId: body.job_id, ms: Date.now() - at, at };
    }),
  );

  const outcome = await settle(service.url, cluster.pool, sent);
  report("fault 5: 10,000 rides sent three times", { ...outcome, stored: outcome.stored / 3 });
  expect(sent.every((s) => s.status === 202)).toBe(true);
  const rows = await cluster.pool.query("SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM rides");
  expect(rows.rows[0]).toEqual({ n: 10_000, ids: 10_000 });
  expect(outcome).toMatchObject({ acknowledged: 30_000, stored: 30_000, lost: 0, failed: 0, queued: 0, duplicated: 0 });
  // The stored copy of each ride is the one from the job that was acknowledged last for it.
  const lastJob = new Map<number, { jobId: number; copy: number }>();
  sent.forEach((s, i) => {
    for (const id of s.ids) if ((lastJob.get(id)?.jobId ?? 0) < s.jobId!) lastJob.set(id, { jobId: s.jobId!, copy: requests[i].copy });
  });
  const stored = await cluster.pool.query<{ id: number; user_id: number; job_id: number }>("SELECT id, user_id, job_id FROM rides");
  for (const row of stored.rows) expect([row.job_id, row.user_id]).toEqual([lastJob.get(row.id)!.jobId, lastJob.get(row.id)!.copy + 1]);
  expect(allOutput()).not.toMatch(LEAK);
});
