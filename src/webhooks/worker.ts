import type { Job as BossJob, PgBoss } from "pg-boss";
import type pg from "pg";
import type { WebhookSettings } from "../config.ts";
import { inTransaction } from "../db/client.ts";
import { jobEventsAfter, jobEventStatusesAfter, newestJobEventSeq } from "../jobs/store.ts";
import { signatureHeader } from "./signature.ts";
import {
  advanceDispatchCursor,
  type DeliveryOutcome,
  dispatchTargets,
  lockDispatchCursor,
  recordDelivery,
  syncConfiguredWebhooks,
  webhookTarget,
} from "./store.ts";
import { checkDestination } from "./url.ts";

export const WEBHOOK_QUEUE = "webhook-deliveries";
/** Events one dispatch transaction hands to the queue at most. */
const DISPATCH_PAGE = 1_000;
/** How often the dispatcher looks for events when no notice woke it (a notice lost while LISTEN reconnected). */
const DISPATCH_BACKSTOP_MS = 5_000;
/** How soon to look again when another process was dispatching. */
const BUSY_RETRY_MS = 200;

type DeliveryData = { webhook_id: number; seq: number };

export type WebhookWorkerOptions = {
  /** A pg-boss of the webhooks' own (its own connections), so a backlog of deliveries never takes the mover's. */
  boss: PgBoss;
  /** The webhooks' own small pool: a slow receiver holds no connection, and intake's pool is never waited on. */
  pool: pg.Pool;
  settings: WebhookSettings;
  onDelivery: (outcome: DeliveryOutcome, seconds: number) => void;
  onError: (error: unknown) => void;
};

/**
 * Webhooks: job_events → pg-boss queue → POST to each endpoint. The dispatcher hands
 * events to the queue in the same transaction that advances its cursor (webhook_dispatch),
 * so each event is queued once per endpoint; a delivery that fails (a non-2xx answer, no
 * answer within WEBHOOK_TIMEOUT_MS) is retried by pg-boss with exponential back-off.
 * An endpoint receives the events dispatched after it was created.
 */
export async function startWebhookWorker({ boss, pool, settings, onDelivery, onError }: WebhookWorkerOptions) {
  const queue = {
    retryLimit: settings.retryLimit,
    retryDelay: settings.retryDelaySeconds,
    retryBackoff: true,
    retryDelayMax: settings.retryDelayMaxSeconds,
    // A delivery runs at most WEBHOOK_TIMEOUT_MS; pg-boss retries one whose process died mid-attempt after this.
    expireInSeconds: Math.ceil(settings.timeoutMs / 1000) + 30,
  };
  await boss.createQueue(WEBHOOK_QUEUE, queue);
  await boss.updateQueue(WEBHOOK_QUEUE, queue);
  await inTransaction(pool, (client) => syncConfiguredWebhooks(client, settings.configured, settings.secret));

  /** "more": a full page was queued; "busy": another process holds the cursor (it may have read before the newest events). */
  async function dispatch(): Promise<"more" | "done" | "busy"> {
    return inTransaction(pool, async (client) => {
      const through = await lockDispatchCursor(client);
      if (through === undefined) return "busy";
      // Read before the endpoints, so an endpoint created meanwhile is either seen here or
      // newer than every event passed over below.
      const newest = await newestJobEventSeq(client);
      const targets = await dispatchTargets(client);
      // With no endpoint the events so far go nowhere: the cursor passes them unread (every
      // job's event would otherwise be read once, a page per move, for nothing).
      if (targets.length === 0) {
        await advanceDispatchCursor(client, Math.max(through, newest));
        return "done";
      }
      const events = await jobEventStatusesAfter(client, through, DISPATCH_PAGE);
      if (events.length === 0) return "done";
      const jobs = events.flatMap((event) =>
        targets.filter((hook) => hook.notify === "all" || event.status !== "done").map((hook) => ({ data: { webhook_id: hook.id, seq: event.seq } })),
      );
      if (jobs.length > 0) await boss.insert(WEBHOOK_QUEUE, jobs, { db: { executeSql: (text, values) => client.query(text, values) } });
      await advanceDispatchCursor(client, events.at(-1)!.seq);
      return events.length === DISPATCH_PAGE ? "more" : "done";
    });
  }

  let dispatching = false;
  let again = false;
  let stopped = false;
  async function wake() {
    if (dispatching) {
      again = true;
      return;
    }
    dispatching = true;
    try {
      do {
        again = false;
        let outcome: Awaited<ReturnType<typeof dispatch>> = "more";
        while (!stopped && outcome === "more") outcome = await dispatch();
        if (outcome === "busy") setTimeout(() => void wake(), BUSY_RETRY_MS).unref();
      } while (again && !stopped);
    } catch (error) {
      onError(error);
    } finally {
      dispatching = false;
    }
  }
  const backstop = setInterval(() => void wake(), DISPATCH_BACKSTOP_MS);
  backstop.unref();

  async function deliver(job: BossJob<DeliveryData>) {
    const { webhook_id: webhookId, seq } = job.data;
    const target = await webhookTarget(pool, webhookId);
    const [event] = await jobEventsAfter(pool, seq - 1, 1, seq);
    // Deleted endpoint, or the job pruned with its event: nothing left to send.
    if (!target || !event) return;
    const body = JSON.stringify({ event_id: seq, type: `job.${event.job.status}`, job: event.job });
    const started = performance.now();
    let responseStatus: number | null = null;
    let error: string | null = null;
    try {
      await checkDestination(target.url, settings.allowPrivateUrls);
      const response = await fetch(target.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "rides-ingest-webhooks",
          "rides-event-id": String(seq),
          "rides-signature": signatureHeader(target.secret, body, Math.floor(Date.now() / 1000)),
        },
        body,
        signal: AbortSignal.timeout(settings.timeoutMs),
        // A redirect could lead the signed body somewhere else: it counts as a failed attempt.
        redirect: "manual",
      });
      responseStatus = response.status;
      await response.body?.cancel();
    } catch (failure) {
      const name = (failure as Error).name;
      error = name === "TimeoutError" ? `no answer within ${settings.timeoutMs} ms (WEBHOOK_TIMEOUT_MS)` : (failure as Error).message;
    }
    const delivered = responseStatus !== null && responseStatus >= 200 && responseStatus < 300;
    const outcome: DeliveryOutcome = delivered ? "delivered" : job.retryCount >= settings.retryLimit ? "gave_up" : "retrying";
    const durationMs = Math.round(performance.now() - started);
    await recordDelivery(pool, webhookId, {
      event_id: seq,
      job_id: event.job.job_id,
      attempt: job.retryCount + 1,
      outcome,
      response_status: responseStatus,
      error: error ?? (delivered ? null : `answered ${responseStatus}`),
      duration_ms: durationMs,
    });
    onDelivery(outcome, durationMs / 1000);
    if (!delivered) throw new Error(`webhook ${webhookId}: event ${seq} not delivered: ${error ?? `answered ${responseStatus}`}`);
  }

  await boss.work<DeliveryData>(WEBHOOK_QUEUE, { localConcurrency: settings.concurrency, pollingIntervalSeconds: 1 }, async ([job]) => deliver(job));
  void wake();
  return {
    /** Hands new events to the queue (a job finished, or a LISTEN reconnected). */
    wake: () => void wake(),
    stop() {
      stopped = true;
      clearInterval(backstop);
    },
  };
}

export type WebhookWorker = Awaited<ReturnType<typeof startWebhookWorker>>;
