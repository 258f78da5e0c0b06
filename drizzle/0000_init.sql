CREATE TABLE "jobs" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "jobs_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"status" text DEFAULT 'queued' NOT NULL,
	"accepted" integer NOT NULL,
	"stored" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"error" text,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "jobs_status_check" CHECK ("jobs"."status" in ('queued', 'done', 'failed', 'lost'))
);
--> statement-breakpoint
CREATE TABLE "rides" (
	"id" bigint NOT NULL,
	"user_id" integer NOT NULL,
	"vehicle_model_id" integer NOT NULL,
	"package_id" integer,
	"travel_type_id" integer NOT NULL,
	"from_area_id" integer,
	"to_area_id" integer,
	"from_city_id" integer,
	"to_city_id" integer,
	"from_date" timestamp with time zone NOT NULL,
	"to_date" timestamp with time zone,
	"online_booking" boolean NOT NULL,
	"mobile_site_booking" boolean NOT NULL,
	"booking_created" timestamp with time zone NOT NULL,
	"from_lat" double precision,
	"from_long" double precision,
	"to_lat" double precision,
	"to_long" double precision,
	"car_cancellation" boolean NOT NULL,
	"job_id" bigint NOT NULL,
	"stored_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rides_id_from_date_pk" PRIMARY KEY("id","from_date"),
	CONSTRAINT "rides_from_lat_check" CHECK ("rides"."from_lat" between -90 and 90),
	CONSTRAINT "rides_to_lat_check" CHECK ("rides"."to_lat" between -90 and 90),
	CONSTRAINT "rides_from_long_check" CHECK ("rides"."from_long" between -180 and 180),
	CONSTRAINT "rides_to_long_check" CHECK ("rides"."to_long" between -180 and 180)
);
--> statement-breakpoint
CREATE TABLE "staging" (
	"job_id" bigint PRIMARY KEY NOT NULL,
	"ride_count" integer NOT NULL,
	"months" text[] NOT NULL,
	"rides" jsonb NOT NULL
);
--> statement-breakpoint
CREATE INDEX "jobs_queued_idx" ON "jobs" USING btree ("id") WHERE status = 'queued';--> statement-breakpoint
CREATE INDEX "jobs_status_received_idx" ON "jobs" USING btree ("status","received_at");