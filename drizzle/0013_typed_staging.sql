-- Hand-written (custom migration). Staged rides become typed rows, one staged_ride per
-- ride in the order sent: PostgreSQL reads each value once, when the rides are staged,
-- where the mover's json_to_recordset parsed every ride's text again and took half of the
-- move statement's time (bench/results.md, the per-ride budget). Its fields are rides'
-- columns in the producer's order; the mover's insert into rides still checks them.
CREATE TYPE "staged_ride" AS (
	"id" bigint, "user_id" integer, "vehicle_model_id" integer, "package_id" integer, "travel_type_id" integer,
	"from_area_id" integer, "to_area_id" integer, "from_city_id" integer, "to_city_id" integer,
	"from_date" timestamp with time zone, "to_date" timestamp with time zone, "online_booking" boolean,
	"mobile_site_booking" boolean, "booking_created" timestamp with time zone, "from_lat" double precision,
	"from_long" double precision, "to_lat" double precision, "to_long" double precision, "car_cancellation" boolean
);
--> statement-breakpoint
-- A job staged before this migration whose rides cannot be typed could never have been
-- moved either: it fails now with the reason the mover would have given, counted as
-- FAIL_JOB counts it (src/jobs/store.ts).
DO $$
DECLARE
	s record;
BEGIN
	FOR s IN SELECT job_id, ride_count, rides FROM staging LOOP
		BEGIN
			PERFORM ARRAY(SELECT r FROM json_populate_recordset(null::staged_ride, s.rides) r);
		EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
			DELETE FROM staging WHERE job_id = s.job_id;
			UPDATE jobs SET status = 'failed', failed = s.ride_count, error = 'the database refused the rides: ' || SQLERRM, finished_at = clock_timestamp()
			WHERE id = s.job_id;
			INSERT INTO job_counts (status, jobs) VALUES ('queued', -1), ('failed', 1);
			INSERT INTO job_failures (job_id, status) VALUES (s.job_id, 'failed');
			-- Its event (migration 0011), so SSE and webhooks hear of it as of any failed job.
			INSERT INTO job_events (job_id, status, stored, failed, error, finished_at, attempts)
			SELECT id, status, stored, failed, error, finished_at, attempts FROM jobs WHERE id = s.job_id;
		END;
	END LOOP;
END $$;
--> statement-breakpoint
ALTER TABLE "staging" ADD COLUMN "typed_rides" "staged_ride"[];
--> statement-breakpoint
UPDATE "staging" SET "typed_rides" = ARRAY(SELECT r FROM json_populate_recordset(null::staged_ride, rides) r);
--> statement-breakpoint
ALTER TABLE "staging" DROP COLUMN "rides";
--> statement-breakpoint
ALTER TABLE "staging" RENAME COLUMN "typed_rides" TO "rides";
--> statement-breakpoint
ALTER TABLE "staging" ALTER COLUMN "rides" SET NOT NULL;
--> statement-breakpoint
-- Written once and read once: compressing it would cost more than it saves (as in 0004).
ALTER TABLE "staging" ALTER COLUMN "rides" SET STORAGE EXTERNAL;
--> statement-breakpoint
-- A failed job's kept rides (migration 0010) are staged again as they are kept, so they take the same type.
ALTER TABLE "failed_payloads" ADD COLUMN "typed_rides" "staged_ride"[];
--> statement-breakpoint
UPDATE "failed_payloads" SET "typed_rides" = ARRAY(SELECT r FROM json_populate_recordset(null::staged_ride, rides) r);
--> statement-breakpoint
ALTER TABLE "failed_payloads" DROP COLUMN "rides";
--> statement-breakpoint
ALTER TABLE "failed_payloads" RENAME COLUMN "typed_rides" TO "rides";
--> statement-breakpoint
ALTER TABLE "failed_payloads" ALTER COLUMN "rides" SET NOT NULL;
