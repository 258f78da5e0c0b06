CREATE TABLE "rides_daily_by_area" (
	"day" timestamp with time zone NOT NULL,
	"from_area_id" integer,
	"rides" bigint NOT NULL,
	"cancellations" bigint NOT NULL,
	"online_bookings" bigint NOT NULL,
	"mobile_bookings" bigint NOT NULL,
	"lead_seconds" numeric NOT NULL,
	"trip_km" numeric NOT NULL,
	"trip_km_rides" bigint NOT NULL,
	CONSTRAINT "rides_daily_by_area_key" UNIQUE NULLS NOT DISTINCT("day","from_area_id")
);
--> statement-breakpoint
CREATE TABLE "rides_daily_by_model" (
	"day" timestamp with time zone NOT NULL,
	"travel_type_id" integer NOT NULL,
	"vehicle_model_id" integer NOT NULL,
	"rides" bigint NOT NULL,
	"cancellations" bigint NOT NULL,
	"online_bookings" bigint NOT NULL,
	"mobile_bookings" bigint NOT NULL,
	"lead_seconds" numeric NOT NULL,
	"trip_km" numeric NOT NULL,
	"trip_km_rides" bigint NOT NULL,
	CONSTRAINT "rides_daily_by_model_key" UNIQUE("day","travel_type_id","vehicle_model_id")
);
--> statement-breakpoint
CREATE TABLE "rides_hourly" (
	"hour" timestamp with time zone NOT NULL,
	"travel_type_id" integer NOT NULL,
	"vehicle_model_id" integer NOT NULL,
	"package_id" integer,
	"from_city_id" integer,
	"online_booking" boolean NOT NULL,
	"mobile_site_booking" boolean NOT NULL,
	"car_cancellation" boolean NOT NULL,
	"rides" bigint NOT NULL,
	"cancellations" bigint NOT NULL,
	"online_bookings" bigint NOT NULL,
	"mobile_bookings" bigint NOT NULL,
	"lead_seconds" numeric NOT NULL,
	"trip_km" numeric NOT NULL,
	"trip_km_rides" bigint NOT NULL,
	CONSTRAINT "rides_hourly_key" UNIQUE NULLS NOT DISTINCT("hour","travel_type_id","vehicle_model_id","package_id","from_city_id","online_booking","mobile_site_booking","car_cancellation")
);
--> statement-breakpoint
CREATE TABLE "rides_hourly_by_model" (
	"hour" timestamp with time zone NOT NULL,
	"travel_type_id" integer NOT NULL,
	"vehicle_model_id" integer NOT NULL,
	"rides" bigint NOT NULL,
	"cancellations" bigint NOT NULL,
	"online_bookings" bigint NOT NULL,
	"mobile_bookings" bigint NOT NULL,
	"lead_seconds" numeric NOT NULL,
	"trip_km" numeric NOT NULL,
	"trip_km_rides" bigint NOT NULL,
	CONSTRAINT "rides_hourly_by_model_key" UNIQUE("hour","travel_type_id","vehicle_model_id")
);
