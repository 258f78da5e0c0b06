import type { Job, JobFilter, Rejection } from "../jobs/store.ts";
import type { Rejected, RideReport } from "../rides/index.ts";

export type { Job, Rejected, Rejection };
export type RejectionPage = { rejections: Rejection[]; next_cursor: string | null };
export type RejectionQuery = { since?: string; until?: string; field?: string; limit?: number; cursor?: string };
export type Accepted = { job_id: number; status: "queued"; accepted: number } & RideReport;
export type ProblemBody = { title?: string; status?: number; detail?: string; request_id?: string } & Partial<RideReport>;
export type QueryAnswer = { columns?: string[]; rows: unknown[] } & Record<string, unknown>;

/** A refusal from the service, carrying its problem+json body. */
export class RidesApiError extends Error {
  readonly status: number;
  readonly problem: ProblemBody;
  constructor(status: number, problem: ProblemBody) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export type RetryPolicy = { attempts: number; baseDelayMs: number; maxDelayMs: number };
export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 250, maxDelayMs: 10_000 };
/** 502 is an outcome the service could not learn (a broken database connection): like a lost answer, it is resent. */
const RETRYABLE = new Set([429, 502, 503]);
const POLL_AT_ONCE = 16;

export type ClientOptions = {
  baseUrl: string;
  /** Sent as Authorization: Bearer; never printed. */
  apiKey?: string;
  retry?: RetryPolicy;
  /** Told about each retry (status, or 0 for a network error) before waiting. */
  onRetry?: (status: number, delayMs: number) => void;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Exponential back-off with full jitter, or the server's Retry-After when it gives one. */
function backoff(policy: RetryPolicy, attempt: number, retryAfter: string | null): number {
  const told = Number(retryAfter);
  if (retryAfter !== null && Number.isFinite(told) && told >= 0) return Math.min(told * 1000, policy.maxDelayMs);
  return Math.random() * Math.min(policy.baseDelayMs * 2 ** attempt, policy.maxDelayMs);
}

/** The service's HTTP API as typed calls; shared by the CLI and the tests. */
export function createClient({ baseUrl, apiKey, retry = DEFAULT_RETRY, onRetry }: ClientOptions) {
  const root = baseUrl.replace(/\/+$/, "");

  /** One call, retried on 429/502/503 and on connection errors (the request is idempotent or carries an Idempotency-Key). */
  async function call<T>(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json", ...init.headers };
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${root}${path}`, { method, headers, body: init.body });
      } catch (error) {
        if (attempt + 1 >= retry.attempts) throw error;
        const delay = backoff(retry, attempt, null);
        onRetry?.(0, delay);
        await sleep(delay);
        continue;
      }
      if (RETRYABLE.has(response.status) && attempt + 1 < retry.attempts) {
        await response.body?.cancel();
        const delay = backoff(retry, attempt, response.headers.get("retry-after"));
        onRetry?.(response.status, delay);
        await sleep(delay);
        continue;
      }
      const text = await response.text();
      const body = text ? JSON.parse(text) : {};
      if (!response.ok) throw new RidesApiError(response.status, body);
      return body as T;
    }
  }

  return {
    sendRides(body: string, contentType: string, options: { idempotencyKey?: string; timeZone?: string } = {}) {
      const query = options.timeZone ? `?tz=${encodeURIComponent(options.timeZone)}` : "";
      const headers: Record<string, string> = { "content-type": contentType };
      if (options.idempotencyKey) headers["idempotency-key"] = options.idempotencyKey;
      return call<Accepted>("POST", `/v1/rides${query}`, { body, headers });
    },
    getJob: (jobId: number) => call<Job>("GET", `/v1/jobs/${jobId}`),
    async listJobs(filter: Partial<JobFilter> = {}) {
      const query = new URLSearchParams(
        Object.entries(filter).flatMap(([key, value]) => (value === undefined ? [] : [[key, String(value)]])),
      );
      return (await call<{ jobs: Job[] }>("GET", `/v1/jobs${query.size ? `?${query}` : ""}`)).jobs;
    },
    /** A job's rejected rides, or (without a job) every kept job's, newest first; a page at a time. */
    rejections(jobId: number | undefined, filter: RejectionQuery = {}) {
      const query = new URLSearchParams(
        Object.entries(filter).flatMap(([key, value]) => (value === undefined ? [] : [[key, String(value)]])),
      );
      const path = jobId === undefined ? "/v1/rejections" : `/v1/jobs/${jobId}/rejections`;
      return call<RejectionPage>("GET", `${path}${query.size ? `?${query}` : ""}`);
    },
    /** Stages a failed job's kept rides again (409 if it is not failed). */
    retryJob: (jobId: number) => call<Job>("POST", `/v1/jobs/${jobId}/retry`),
    query: (query: unknown) =>
      call<QueryAnswer>("POST", "/v1/query", { body: JSON.stringify(query), headers: { "content-type": "application/json" } }),
    /** Polls the jobs until none is queued (or the timeout passes); returns their last known state. */
    async waitForJobs(jobIds: number[], timeoutMs: number, pollMs = 200): Promise<Job[]> {
      const latest = new Map<number, Job>();
      const deadline = Date.now() + timeoutMs;
      let pending = jobIds;
      while (pending.length > 0) {
        // The mover takes the oldest jobs first: asking about the next few pending ones is enough.
        const asked = pending.slice(0, POLL_AT_ONCE);
        for (const job of await Promise.all(asked.map((id) => call<Job>("GET", `/v1/jobs/${id}`)))) latest.set(job.job_id, job);
        pending = pending.filter((id) => (latest.get(id)?.status ?? "queued") === "queued");
        if (pending.length === 0 || Date.now() > deadline) break;
        await sleep(pollMs);
      }
      return jobIds.map((id) => latest.get(id)!);
    },
  };
}

export type RidesClient = ReturnType<typeof createClient>;
