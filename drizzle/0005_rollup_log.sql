-- Hand-written: the TRUNCATE, the fillfactor lines and these comments. trip_km (numeric
-- kilometres) becomes trip_m (whole metres, bigint): converting each ride's distance to
-- numeric was the costliest part of folding changes into the rollups. Rollups are derived
-- data: emptied here, the service refills them from rides when it starts (FILL_EMPTY_ROLLUPS).
TRUNCATE "rides_daily_by_area", "rides_daily_by_model", "rides_hourly", "rides_hourly_by_model";
--> statement-breakpoint
CREATE TABLE "rides_hourly_by_travel_type" (
	"hour" timestamp with time zone NOT NULL,
	"travel_type_id" integer NOT NULL,
	"rides" bigint NOT NULL,
	"cancellations" bigint NOT NULL,
	"online_bookings" bigint NOT NULL,
	"mobile_bookings" bigint NOT NULL,
	"lead_seconds" numeric NOT NULL,
	"trip_m" bigint NOT NULL,
	"trip_km_rides" bigint NOT NULL,
	CONSTRAINT "rides_hourly_by_travel_type_key" UNIQUE("hour","travel_type_id")
);
--> statement-breakpoint
CREATE TABLE "rides_monthly_by_area" (
	"month" timestamp with time zone NOT NULL,
	"from_area_id" integer,
	"rides" bigint NOT NULL,
	"cancellations" bigint NOT NULL,
	"online_bookings" bigint NOT NULL,
	"mobile_bookings" bigint NOT NULL,
	"lead_seconds" numeric NOT NULL,
	"trip_m" bigint NOT NULL,
	"trip_km_rides" bigint NOT NULL,
	CONSTRAINT "rides_monthly_by_area_key" UNIQUE NULLS NOT DISTINCT("month","from_area_id")
);
--> statement-breakpoint
CREATE TABLE "rollup_log" (
	"sign" smallint NOT NULL,
	"from_date" timestamp with time zone NOT NULL,
	"booking_created" timestamp with time zone NOT NULL,
	"travel_type_id" integer NOT NULL,
	"vehicle_model_id" integer NOT NULL,
	"package_id" integer,
	"from_area_id" integer,
	"from_city_id" integer,
	"online_booking" boolean NOT NULL,
	"mobile_site_booking" boolean NOT NULL,
	"car_cancellation" boolean NOT NULL,
	"from_lat" double precision,
	"from_long" double precision,
	"to_lat" double precision,
	"to_long" double precision
);
--> statement-breakpoint
ALTER TABLE "rides_daily_by_area" ADD COLUMN "trip_m" bigint NOT NULL;--> statement-breakpoint
ALTER TABLE "rides_daily_by_model" ADD COLUMN "trip_m" bigint NOT NULL;--> statement-breakpoint
ALTER TABLE "rides_hourly" ADD COLUMN "trip_m" bigint NOT NULL;--> statement-breakpoint
ALTER TABLE "rides_hourly_by_model" ADD COLUMN "trip_m" bigint NOT NULL;--> statement-breakpoint
ALTER TABLE "rides_daily_by_area" DROP COLUMN "trip_km";--> statement-breakpoint
ALTER TABLE "rides_daily_by_model" DROP COLUMN "trip_km";--> statement-breakpoint
ALTER TABLE "rides_hourly" DROP COLUMN "trip_km";--> statement-breakpoint
ALTER TABLE "rides_hourly_by_model" DROP COLUMN "trip_km";
--> statement-breakpoint
-- Room on each page lets a fold update a rollup row in place (a HOT update: no new index entry).
ALTER TABLE "rides_monthly_by_area" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "rides_hourly_by_travel_type" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "rides_daily_by_area" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "rides_daily_by_model" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "rides_hourly" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "rides_hourly_by_model" SET (fillfactor = 70);
