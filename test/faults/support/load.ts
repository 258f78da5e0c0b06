import type pg from "pg";
import { ride } from "../../support/service.ts";
import { until } from "./cluster.ts";

/** One POST of the load: its ride ids and how it was answered ("error": no HTTP answer at all). */
export type Sent = { ids: number[]; status: number | "error"; jobId?: number; retryAfter?: string | null; ms: number; at: number };

const MAX_REQUEST_MS = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Senders posting JSON batches of new rides (ids from firstId up) to one service until
 * stopped or maxRequests are sent: bounded in count, and each request in time. With
 * idempotencyKeys each request carries one, so a balancer may send it again.
 */
export function startLoad(url: string, { firstId, senders = 4, ridesPerRequest = 20, maxRequests = 3000, idempotencyKeys = false }: {
  firstId: number;
  senders?: number;
  ridesPerRequest?: number;
  maxRequests?: number;
  idempotencyKeys?: boolean;
}) {
  const sent: Sent[] = [];
  let nextId = firstId;
  let stopped = false;
  let started = 0;

  async function sender() {
    while (!stopped && started < maxRequests) {
      started++;
      const ids = Array.from({ length: ridesPerRequest }, () => nextId++);
      const at = Date.now();
      try {
        const response = await fetch(`${url}/v1/rides`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(idempotencyKeys ? { "idempotency-key": `load-${ids[0]}` } : {}) },
          body: JSON.stringify(ids.map((id) => ride({ id }))),
          signal: AbortSignal.timeout(MAX_REQUEST_MS),
        });
        const body = (await response.json()) as { job_id?: number };
        sent.push({ ids, status: response.status, jobId: body.job_id, retryAfter: response.headers.get("retry-after"), ms: Date.now() - at, at });
        if (response.status !== 202) await sleep(50);
      } catch {
        sent.push({ ids, status: "error", ms: Date.now() - at, at });
        await sleep(50);
      }
    }
  }
  const running = Array.from({ length: senders }, sender);
  const acked = () => sent.filter((s) => s.status === 202).length;

  return {
    sent,
    /** Waits until `more` further requests got a 202 (bounded). */
    async moreAcks(more: number, timeoutMs = 60_000) {
      const target = acked() + more;
      await until(`${target} acknowledged requests`, () => acked() >= target || started >= maxRequests, timeoutMs);
      if (acked() < target) {
        throw new Error(`the load ran out after ${acked()} acknowledged requests: ${JSON.stringify(countAnswers(sent))}`);
      }
    },
    async stop(): Promise<Sent[]> {
      stopped = true;
      await Promise.all(running);
      return sent;
    },
  };
}

export type Outcome = {
  acknowledgedJobs: number;
  acknowledged: number;
  stored: number;
  lost: number;
  failed: number;
  /** Acknowledged rides whose job is done but that are not in the rides table. */
  missingFromDone: number;
  /** Rides stored more than once. */
  duplicated: number;
  /** Stored rides of requests that got no 202; only allowed for requests whose outcome is unknown. */
  storedUnacknowledged: number;
  /** Of those, the rides of requests that got no answer at all or a 502 "outcome unknown". */
  storedFromUnanswered: number;
  queued: number;
  answers: Record<string, number>;
};

/**
 * Waits until no acknowledged job is queued (GET /v1/jobs?status=queued also sweeps lost
 * jobs), then counts what happened to every ride the load sent.
 */
export async function settle(url: string, pool: pg.Pool, sent: Sent[], timeoutMs = 120_000): Promise<Outcome> {
  const ackedJobs = sent.filter((s) => s.status === 202).map((s) => s.jobId!);
  const queuedCount = async () => {
    await fetch(`${url}/v1/jobs?status=queued&limit=1`);
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM jobs WHERE status = 'queued' AND id = ANY($1)", [ackedJobs]);
    return rows[0].n as number;
  };
  await until("every acknowledged job to leave queued", async () => (await queuedCount()) === 0, timeoutMs).catch(() => {});

  const jobs = await pool.query<{ id: number; status: string }>("SELECT id, status FROM jobs WHERE id = ANY($1)", [ackedJobs]);
  const statusOf = new Map(jobs.rows.map((row) => [row.id, row.status]));
  const allIds = sent.flatMap((s) => s.ids);
  const stored = await pool.query<{ id: number; copies: number }>(
    "SELECT id, count(*)::int AS copies FROM rides WHERE id = ANY($1) GROUP BY id",
    [allIds],
  );
  const copies = new Map(stored.rows.map((row) => [row.id, row.copies]));

  const outcome: Outcome = {
    acknowledgedJobs: ackedJobs.length, acknowledged: 0, stored: 0, lost: 0, failed: 0, missingFromDone: 0,
    duplicated: 0, storedUnacknowledged: 0, storedFromUnanswered: 0, queued: 0, answers: countAnswers(sent),
  };
  for (const s of sent) {
    const inRides = s.ids.filter((id) => copies.has(id)).length;
    outcome.duplicated += s.ids.filter((id) => (copies.get(id) ?? 0) > 1).length;
    if (s.status !== 202) {
      outcome.storedUnacknowledged += inRides;
      if (s.status === "error" || s.status === 502) outcome.storedFromUnanswered += inRides;
      continue;
    }
    outcome.acknowledged += s.ids.length;
    outcome.stored += inRides;
    const status = statusOf.get(s.jobId!);
    if (status === "lost") outcome.lost += s.ids.length;
    if (status === "failed") outcome.failed += s.ids.length;
    if (status === "queued") outcome.queued += s.ids.length;
    if (status === "done") outcome.missingFromDone += s.ids.length - inRides;
  }
  return outcome;
}

/** How many requests got each answer ("error": none). */
export function countAnswers(sent: Sent[]): Record<string, number> {
  const answers: Record<string, number> = {};
  for (const s of sent) answers[s.status] = (answers[s.status] ?? 0) + 1;
  return answers;
}

/** The counts the closing note asks for, printed by every fault test. */
export function report(fault: string, outcome: Outcome): void {
  const { acknowledged, stored, lost, failed, acknowledgedJobs, answers } = outcome;
  console.log(
    `[${fault}] acknowledged=${acknowledged} rides in ${acknowledgedJobs} jobs, stored=${stored}, lost=${lost}, failed=${failed}; ` +
      `answers ${JSON.stringify(answers)}; queued=${outcome.queued}, missing from done=${outcome.missingFromDone}, ` +
      `duplicated=${outcome.duplicated}, stored without a 202=${outcome.storedUnacknowledged} (from unanswered requests ${outcome.storedFromUnanswered})`,
  );
}
