-- Per-table autovacuum for the tables that churn (the cluster's defaults wait for 20% of
-- a table to be dead). Staging is a queue: every row is inserted and deleted within
-- seconds, so a vacuum after a fixed number of dead rows keeps it a few pages long.
ALTER TABLE "staging" SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_cost_delay = 0);
--> statement-breakpoint
-- job_counts is appended to and folded every minute; idempotency_keys expire in batches.
ALTER TABLE "job_counts" SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
--> statement-breakpoint
ALTER TABLE "idempotency_keys" SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_insert_scale_factor = 0.05);
--> statement-breakpoint
-- A partitioned table takes no storage parameters: each jobs partition gets them when it
-- is created (src/jobs/partitions.ts, JOB_PARTITION_STORAGE); this is the first one.
DO $$
DECLARE part regclass;
BEGIN
  FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'jobs'::regclass LOOP
    EXECUTE format('ALTER TABLE %s SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)', part);
  END LOOP;
END $$;
