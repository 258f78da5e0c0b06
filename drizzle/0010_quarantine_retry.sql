-- A failed job's rides stay, logged, until a retry stores them (POST /v1/jobs/{id}/retry)
-- or the job is pruned; the mover used to delete them with the job's staging row.
CREATE TABLE "failed_payloads" (
	"job_id" bigint PRIMARY KEY NOT NULL,
	"ride_count" integer NOT NULL,
	"months" text[] NOT NULL,
	"rides" json NOT NULL
);
--> statement-breakpoint
-- The quarantine: every rejected ride of an accepted request, written in the statement
-- that stages its job. Not partitioned: the pruner deletes a pruned job's rows in bounded
-- batches after the job is gone (src/retention/pruner.ts).
CREATE TABLE "rejections" (
	"job_id" bigint NOT NULL,
	"ride_index" integer NOT NULL,
	"ride_id" bigint,
	"reasons" jsonb NOT NULL,
	"raw" text NOT NULL,
	"truncated" boolean NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rejections_job_id_ride_index_pk" PRIMARY KEY("job_id","ride_index"),
	CONSTRAINT "rejections_raw_check" CHECK (octet_length("rejections"."raw") <= 8192),
	CONSTRAINT "rejections_reasons_check" CHECK (jsonb_array_length("rejections"."reasons") <= 21 and octet_length("rejections"."reasons"::text) <= 16384)
);
--> statement-breakpoint
-- A constant default: no rewrite of the jobs partitions.
ALTER TABLE "jobs" ADD COLUMN "attempts" integer DEFAULT 1 NOT NULL;