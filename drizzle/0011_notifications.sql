-- Notifications (issue 12): job_events is the outbox behind GET /v1/jobs/events (SSE) and
-- the webhooks; each row is written by the statement that finishes its job, under the
-- one advisory lock (JOB_EVENTS_LOCK), so seq order is commit order and a reader resuming after a seq skips none.
CREATE TABLE "job_events" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"job_id" bigint NOT NULL,
	"status" text NOT NULL,
	"stored" integer NOT NULL,
	"failed" integer NOT NULL,
	"error" text,
	"finished_at" timestamp with time zone NOT NULL,
	"attempts" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"webhook_id" bigint NOT NULL,
	"event_seq" bigint NOT NULL,
	"job_id" bigint NOT NULL,
	"attempt" integer NOT NULL,
	"outcome" text NOT NULL,
	"response_status" integer,
	"error" text,
	"duration_ms" integer NOT NULL,
	"attempted_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_dispatch" (
	"through" bigint NOT NULL
);
--> statement-breakpoint
-- Events before the webhooks existed are not sent to them.
INSERT INTO "webhook_dispatch" (through) VALUES (0);
--> statement-breakpoint
CREATE TABLE "webhooks" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"secret" text NOT NULL,
	"notify" text NOT NULL,
	"configured" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_id_webhooks_id_fk" FOREIGN KEY ("webhook_id") REFERENCES "public"."webhooks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "job_events_job_id_idx" ON "job_events" USING btree ("job_id");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_webhook_id_idx" ON "webhook_deliveries" USING btree ("webhook_id","id");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_job_id_idx" ON "webhook_deliveries" USING btree ("job_id");--> statement-breakpoint
CREATE UNIQUE INDEX "webhooks_configured_url_idx" ON "webhooks" USING btree ("url") WHERE "webhooks"."configured";
--> statement-breakpoint
-- An append-only outbox, pruned in job ranges: vacuum after a fixed share, as the other churning tables.
ALTER TABLE "job_events" SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_insert_scale_factor = 0.05);
