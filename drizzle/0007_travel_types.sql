CREATE TABLE "travel_types" (
	"id" integer PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"always_null" text[] NOT NULL,
	CONSTRAINT "travel_types_name_unique" UNIQUE("name")
);
--> statement-breakpoint
-- Hand-written: XRides' three types, with the fields NULL in every one of the 43,431 rides
-- of the data set (data/README.md). A new type is a migration like this one.
INSERT INTO "travel_types" ("id", "name", "always_null") VALUES
	(1, 'long distance', '{package_id}'),
	(2, 'point to point', '{package_id,to_city_id}'),
	(3, 'hourly rental', '{to_area_id,to_city_id,to_lat,to_long}');
