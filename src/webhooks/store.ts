import type pg from "pg";
import type { ConfiguredWebhook, WebhookNotify } from "./url.ts";

// Every statement on webhooks, webhook_deliveries and webhook_dispatch, but the pruning
// of deliveries with their jobs (src/jobs/store.ts, dropDetachedJobs and DELETE_EXPIRED_JOBS).

export type Webhook = { webhook_id: number; url: string; notify: WebhookNotify; configured: boolean; created_at: string };
type WebhookRow = Omit<Webhook, "created_at"> & { created_at: Date; secret: string };

const WEBHOOK_COLUMNS = "id AS webhook_id, url, notify, configured, created_at, secret";
const toWebhook = ({ secret: _secret, ...row }: WebhookRow): Webhook => ({ ...row, created_at: row.created_at.toISOString() });

/** WEBHOOK_URLS as the table's configured endpoints: added, updated, and removed when no longer listed. */
export async function syncConfiguredWebhooks(client: pg.PoolClient, configured: ConfiguredWebhook[], secret: string | undefined): Promise<void> {
  const urls = configured.map((hook) => hook.url);
  await client.query("DELETE FROM webhooks WHERE configured AND url <> ALL($1::text[])", [urls]);
  if (configured.length === 0) return;
  await client.query(
    `INSERT INTO webhooks (url, secret, notify, configured)
     SELECT url, $3, notify, true FROM unnest($1::text[], $2::text[]) AS c(url, notify)
     ON CONFLICT (url) WHERE configured DO UPDATE SET secret = excluded.secret, notify = excluded.notify`,
    [urls, configured.map((hook) => hook.notify), secret],
  );
}

export async function createWebhook(pool: pg.Pool, hook: { url: string; notify: WebhookNotify; secret: string }): Promise<Webhook> {
  const { rows } = await pool.query<WebhookRow>(
    `INSERT INTO webhooks (url, secret, notify) VALUES ($1, $2, $3) RETURNING ${WEBHOOK_COLUMNS}`,
    [hook.url, hook.secret, hook.notify],
  );
  return toWebhook(rows[0]);
}

export async function listWebhooks(pool: pg.Pool): Promise<Webhook[]> {
  return (await pool.query<WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks ORDER BY id`)).rows.map(toWebhook);
}

export type WebhookTarget = { url: string; secret: string };

/** What a delivery needs: its URL and secret (undefined: the endpoint was deleted). */
export async function webhookTarget(pool: pg.Pool, webhookId: number): Promise<WebhookTarget | undefined> {
  return (await pool.query<WebhookTarget>("SELECT url, secret FROM webhooks WHERE id = $1", [webhookId])).rows[0];
}

export async function getWebhook(pool: pg.Pool, webhookId: number): Promise<Webhook | undefined> {
  return (await pool.query<WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1`, [webhookId])).rows.map(toWebhook)[0];
}

/** Deletes a registered endpoint with its deliveries; a configured one stays (WEBHOOK_URLS owns it). */
export async function deleteWebhook(pool: pg.Pool, webhookId: number): Promise<"deleted" | "configured" | "missing"> {
  const { rows } = await pool.query<{ configured: boolean; deleted: boolean }>(
    `WITH target AS (SELECT id, configured FROM webhooks WHERE id = $1),
     deleted AS (DELETE FROM webhooks WHERE id IN (SELECT id FROM target WHERE NOT configured) RETURNING id)
     SELECT configured, EXISTS (SELECT 1 FROM deleted) AS deleted FROM target`,
    [webhookId],
  );
  if (rows.length === 0) return "missing";
  return rows[0].deleted ? "deleted" : "configured";
}

export const DELIVERY_OUTCOMES = ["delivered", "retrying", "gave_up"] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

export type Delivery = {
  delivery_id: number;
  event_id: number;
  job_id: number;
  attempt: number;
  outcome: DeliveryOutcome;
  response_status: number | null;
  error: string | null;
  duration_ms: number;
  attempted_at: string;
};

export async function recordDelivery(pool: pg.Pool, webhookId: number, delivery: Omit<Delivery, "delivery_id" | "attempted_at">): Promise<void> {
  await pool.query(
    `INSERT INTO webhook_deliveries (webhook_id, event_seq, job_id, attempt, outcome, response_status, error, duration_ms)
     SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1)`,
    [webhookId, delivery.event_id, delivery.job_id, delivery.attempt, delivery.outcome, delivery.response_status, delivery.error, delivery.duration_ms],
  );
}

/** An endpoint's delivery attempts, newest first, before the delivery id `before` when given. */
export async function listDeliveries(pool: pg.Pool, webhookId: number, limit: number, before?: number): Promise<Delivery[]> {
  const { rows } = await pool.query<Omit<Delivery, "attempted_at"> & { attempted_at: Date }>(
    `SELECT id AS delivery_id, event_seq AS event_id, job_id, attempt, outcome, response_status, error, duration_ms, attempted_at
     FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
    [webhookId, before ?? null, limit],
  );
  return rows.map((row) => ({ ...row, attempted_at: row.attempted_at.toISOString() }));
}

/** In a transaction: the seq events were handed to the queue through, locked, or undefined while another process dispatches. */
export async function lockDispatchCursor(client: pg.PoolClient): Promise<number | undefined> {
  return (await client.query<{ through: number }>("SELECT through FROM webhook_dispatch FOR UPDATE SKIP LOCKED")).rows[0]?.through;
}

export async function advanceDispatchCursor(client: pg.PoolClient, through: number): Promise<void> {
  await client.query("UPDATE webhook_dispatch SET through = $1", [through]);
}

export type DispatchTarget = { id: number; notify: WebhookNotify };

export async function dispatchTargets(client: pg.PoolClient): Promise<DispatchTarget[]> {
  return (await client.query<DispatchTarget>("SELECT id, notify FROM webhooks")).rows;
}
