-- Jobs become range-partitioned by id, so finished jobs past JOBS_RETENTION_DAYS go by
-- dropping a whole partition (src/retention/). Ids follow arrival time, and a lookup by
-- id stays on one partition. PostgreSQL 15 has no identity column on a partitioned
-- table, so the id comes from a plain sequence (same name, jobs_id_seq).
-- What a partitioned table cannot hold moves out: a unique Idempotency-Key (a unique
-- index must contain the partition key) goes to idempotency_keys, which also expire.
-- No index covers status, so the mover's one update of a job can be HOT.
CREATE SEQUENCE "jobs_id_seq_partitioned";
--> statement-breakpoint
SELECT setval('jobs_id_seq_partitioned', last_value, is_called) FROM "jobs_id_seq";
--> statement-breakpoint
CREATE TABLE "jobs_partitioned" (
	"id" bigint DEFAULT nextval('jobs_id_seq_partitioned') NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"accepted" integer NOT NULL,
	"stored" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"error" text,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "jobs_partitioned_pkey" PRIMARY KEY ("id"),
	CONSTRAINT "jobs_status_check" CHECK ("status" in ('queued', 'done', 'failed', 'lost'))
) PARTITION BY RANGE ("id");
--> statement-breakpoint
-- The first partition holds every job so far and room for a million more; the service
-- adds partitions of JOBS_PARTITION_SIZE ids after it. Names carry the bounds, so a
-- partition left detached by a crash is still known (jobs_<from>_<to>).
DO $$
DECLARE upper_bound bigint := (SELECT coalesce(max(id), 0) FROM jobs) + 1000001;
BEGIN
  EXECUTE format(
    'CREATE TABLE %I PARTITION OF jobs_partitioned FOR VALUES FROM (MINVALUE) TO (%s) WITH (fillfactor = 80)',
    'jobs_0_' || upper_bound, upper_bound);
END $$;
--> statement-breakpoint
INSERT INTO "jobs_partitioned" (id, status, accepted, stored, failed, error, received_at, finished_at)
SELECT id, status, accepted, stored, failed, error, received_at, finished_at FROM "jobs";
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"key" text PRIMARY KEY NOT NULL,
	"job_id" bigint NOT NULL,
	"request_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
INSERT INTO "idempotency_keys" (key, job_id, request_hash, created_at)
SELECT idempotency_key, id, request_hash, received_at FROM "jobs" WHERE idempotency_key IS NOT NULL;
--> statement-breakpoint
-- Keys are created in job order, so this one index finds both the expired keys (oldest
-- first) and the keys of a pruned range of jobs.
CREATE INDEX "idempotency_keys_job_id_idx" ON "idempotency_keys" ("job_id");
--> statement-breakpoint
-- Per-status job counts, appended by every statement that changes a job (+1 queued when
-- staged, -1 queued +1 done when moved, ...) and folded into one row per status on the
-- mover's schedule: /metrics and the dashboard sum a few rows instead of counting jobs,
-- and no two writers wait on the same row.
CREATE TABLE "job_counts" (
	"status" text NOT NULL,
	"jobs" bigint NOT NULL
);
--> statement-breakpoint
INSERT INTO "job_counts" (status, jobs) SELECT status, count(*) FROM "jobs" GROUP BY status;
--> statement-breakpoint
-- Failed and lost jobs, few, so the lists of them do not scan every job for a rare status.
CREATE TABLE "job_failures" (
	"job_id" bigint PRIMARY KEY NOT NULL,
	"status" text NOT NULL
);
--> statement-breakpoint
INSERT INTO "job_failures" (job_id, status) SELECT id, status FROM "jobs" WHERE status IN ('failed', 'lost');
--> statement-breakpoint
-- Every job id below pruned_below is gone: a GET of one answers that it was pruned.
CREATE TABLE "job_retention" (
	"pruned_below" bigint NOT NULL
);
--> statement-breakpoint
INSERT INTO "job_retention" (pruned_below) VALUES (0);
--> statement-breakpoint
-- With RIDES_RETENTION_MONTHS set, rides before kept_from were dropped (whole month
-- partitions; the rollups keep them) and are refused; NULL while every month is kept.
CREATE TABLE "rides_retention" (
	"kept_from" timestamp with time zone
);
--> statement-breakpoint
INSERT INTO "rides_retention" (kept_from) VALUES (NULL);
--> statement-breakpoint
DROP TABLE "jobs";
--> statement-breakpoint
ALTER TABLE "jobs_partitioned" RENAME TO "jobs";
--> statement-breakpoint
ALTER INDEX "jobs_partitioned_pkey" RENAME TO "jobs_pkey";
--> statement-breakpoint
ALTER SEQUENCE "jobs_id_seq_partitioned" RENAME TO "jobs_id_seq";
--> statement-breakpoint
ALTER SEQUENCE "jobs_id_seq" OWNED BY "jobs"."id";
--> statement-breakpoint
-- The dashboard's recent intake and freshness read a time range; received_at never changes.
CREATE INDEX "jobs_received_at_idx" ON "jobs" ("received_at");
