CREATE TABLE "rides_monthly_by_model" (
	"month" timestamp with time zone NOT NULL,
	"travel_type_id" integer NOT NULL,
	"vehicle_model_id" integer NOT NULL,
	"rides" bigint NOT NULL,
	"cancellations" bigint NOT NULL,
	"online_bookings" bigint NOT NULL,
	"mobile_bookings" bigint NOT NULL,
	"lead_seconds" numeric NOT NULL,
	"trip_m" bigint NOT NULL,
	"trip_km_rides" bigint NOT NULL,
	CONSTRAINT "rides_monthly_by_model_key" UNIQUE("month","travel_type_id","vehicle_model_id")
);
--> statement-breakpoint
-- Hand-written: room on each page for HOT updates, as for the other rollups (0005). The
-- service fills the new rollup from rides when it starts (FILL_EMPTY_ROLLUPS).
ALTER TABLE "rides_monthly_by_model" SET (fillfactor = 70);
