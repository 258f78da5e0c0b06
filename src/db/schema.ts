import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  numeric,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  unique,
  uniqueIndex,
} from "drizzle-orm/pg-core";

/**
 * One row per accepted request. Logged, so a job id stays unique and its status
 * survives a crash even when the UNLOGGED staging row it points to does not.
 * Range-partitioned by id (migration 0008; drizzle-kit cannot say PARTITION BY), the id
 * drawn from the plain sequence jobs_id_seq: whole partitions of finished jobs are
 * dropped after JOBS_RETENTION_DAYS. No index covers status, so a job's one update
 * (queued to its outcome) can be HOT.
 */
export const jobs = pgTable(
  "jobs",
  {
    id: bigint("id", { mode: "number" }).primaryKey().default(sql`nextval('jobs_id_seq')`),
    status: text("status", { enum: ["queued", "done", "failed", "lost"] }).notNull().default("queued"),
    accepted: integer("accepted").notNull(),
    stored: integer("stored").notNull().default(0),
    failed: integer("failed").notNull().default(0),
    error: text("error"),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
    /** Times its rides were staged: 1, plus one per POST /v1/jobs/{id}/retry. */
    attempts: integer("attempts").notNull().default(1),
  },
  (t) => [
    index("jobs_received_at_idx").on(t.receivedAt),
    check("jobs_status_check", sql`${t.status} in ('queued', 'done', 'failed', 'lost')`),
  ],
);

/**
 * A sender's Idempotency-Key and a hash of what it sent with it: a resend with the same
 * key within IDEMPOTENCY_KEY_TTL_HOURS finds this job instead of staging the rides
 * again; after that the key starts a new job. Goes with its job when that is pruned.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    key: text("key").primaryKey(),
    jobId: bigint("job_id", { mode: "number" }).notNull(),
    requestHash: text("request_hash").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("idempotency_keys_job_id_idx").on(t.jobId)],
);

/** Per-status job counts as deltas, appended by each statement that changes a job and folded on the mover's schedule. */
export const jobCounts = pgTable("job_counts", {
  status: text("status").notNull(),
  jobs: bigint("jobs", { mode: "number" }).notNull(),
});

/** The failed and lost jobs (few), so listing them does not scan jobs for a rare status. */
export const jobFailures = pgTable("job_failures", {
  jobId: bigint("job_id", { mode: "number" }).primaryKey(),
  status: text("status").notNull(),
});

/**
 * The quarantine: each ride an accepted request rejected, with its reasons and the raw
 * text it came as, capped (src/jobs/store.ts, MAX_RAW_BYTES; the checks are the backstop).
 * Written in the statement that stages its job, and pruned with that job.
 */
export const rejections = pgTable(
  "rejections",
  {
    jobId: bigint("job_id", { mode: "number" }).notNull(),
    rideIndex: integer("ride_index").notNull(),
    rideId: bigint("ride_id", { mode: "number" }),
    reasons: jsonb("reasons").notNull(),
    raw: text("raw").notNull(),
    truncated: boolean("truncated").notNull(),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.jobId, t.rideIndex] }),
    check("rejections_raw_check", sql`octet_length(${t.raw}) <= 8192`),
    check("rejections_reasons_check", sql`jsonb_array_length(${t.reasons}) <= 21 and octet_length(${t.reasons}::text) <= 16384`),
  ],
);

/** A ride as staged: the composite type staged_ride (migration 0013), rides' columns in the producer's order. */
const stagedRides = customType<{ data: string }>({ dataType: () => "staged_ride[]" });

/**
 * A failed job's rides as they were staged, logged, so POST /v1/jobs/{id}/retry can stage
 * them again; kept until a retry ends done, or the job is pruned.
 */
export const failedPayloads = pgTable("failed_payloads", {
  jobId: bigint("job_id", { mode: "number" }).primaryKey(),
  rideCount: integer("ride_count").notNull(),
  months: text("months").array().notNull(),
  rides: stagedRides("rides").notNull(),
});

/** One row: with RIDES_RETENTION_MONTHS, rides before kept_from were dropped and are refused (NULL: none were). */
export const ridesRetention = pgTable("rides_retention", {
  keptFrom: timestamp("kept_from", { withTimezone: true }),
});

/** One row: every job id below pruned_below was pruned. */
export const jobRetention = pgTable("job_retention", {
  prunedBelow: bigint("pruned_below", { mode: "number" }).notNull(),
});

/**
 * The write-ahead buffer between a 202 and the rides table: one row per job holding
 * its validated rides as typed rows in the order sent (PostgreSQL reads each value once,
 * when it is staged; the mover reads plain columns).
 * UNLOGGED (migration 0001) unless STAGING_DURABILITY=logged; months lists the
 * partitions the rides need, so the mover can create them without reading the payload.
 */
export const staging = pgTable("staging", {
  jobId: bigint("job_id", { mode: "number" }).primaryKey(),
  rideCount: integer("ride_count").notNull(),
  months: text("months").array().notNull(),
  rides: stagedRides("rides").notNull(),
});

/**
 * Notifications (src/notifications, src/webhooks): each time a job leaves queued (done,
 * failed, lost; a retried job may do so more than once), one row with the job's outcome
 * as it was then, written by the statement that changed the job. seq is the SSE id and
 * the webhook event id; every writer holds JOB_EVENTS_LOCK, so seqs commit in order.
 * Pruned with the job (by job_id range).
 */
export const jobEvents = pgTable(
  "job_events",
  {
    seq: bigserial("seq", { mode: "number" }).primaryKey(),
    jobId: bigint("job_id", { mode: "number" }).notNull(),
    status: text("status", { enum: ["done", "failed", "lost"] }).notNull(),
    stored: integer("stored").notNull(),
    failed: integer("failed").notNull(),
    error: text("error"),
    finishedAt: timestamp("finished_at", { withTimezone: true }).notNull(),
    attempts: integer("attempts").notNull(),
  },
  (t) => [index("job_events_job_id_idx").on(t.jobId)],
);

/**
 * Webhook endpoints: from WEBHOOK_URLS (configured, synced at start) or POST /v1/webhooks.
 * notify 'failures' gets failed and lost jobs, 'all' every finished job too.
 */
export const webhooks = pgTable(
  "webhooks",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    url: text("url").notNull(),
    secret: text("secret").notNull(),
    notify: text("notify", { enum: ["failures", "all"] }).notNull(),
    configured: boolean("configured").notNull().default(false),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("webhooks_configured_url_idx").on(t.url).where(sql`${t.configured}`)],
);

/** One row per delivery attempt of an event to an endpoint; goes with its job, or with its endpoint. */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    webhookId: bigint("webhook_id", { mode: "number" })
      .notNull()
      .references(() => webhooks.id, { onDelete: "cascade" }),
    eventSeq: bigint("event_seq", { mode: "number" }).notNull(),
    jobId: bigint("job_id", { mode: "number" }).notNull(),
    attempt: integer("attempt").notNull(),
    outcome: text("outcome", { enum: ["delivered", "retrying", "gave_up"] }).notNull(),
    responseStatus: integer("response_status"),
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
    attemptedAt: timestamp("attempted_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("webhook_deliveries_webhook_id_idx").on(t.webhookId, t.id), index("webhook_deliveries_job_id_idx").on(t.jobId)],
);

/** One row: the events up to `through` were handed to the webhook queue (in the same transaction). */
export const webhookDispatch = pgTable("webhook_dispatch", {
  through: bigint("through", { mode: "number" }).notNull(),
});

/**
 * XRides' travel types: the ids a ride's travel_type_id may take, the names analytics
 * answers label them with, and the ride fields a ride of the type never has (NULL in
 * every real ride, data/README.md). The intake reads this at start, so a new type is a
 * migration adding its row.
 */
export const travelTypes = pgTable("travel_types", {
  id: integer("id").primaryKey(),
  name: text("name").notNull().unique(),
  alwaysNull: text("always_null").array().notNull(),
});

/**
 * The rides, range-partitioned by month of from_date (migration 0001 turns this into
 * a partitioned table). The primary key must hold the partition key; the mover keeps
 * one row per id across partitions when a resend moves a ride to another month.
 */
export const rides = pgTable(
  "rides",
  {
    id: bigint("id", { mode: "number" }).notNull(),
    userId: integer("user_id").notNull(),
    vehicleModelId: integer("vehicle_model_id").notNull(),
    packageId: integer("package_id"),
    travelTypeId: integer("travel_type_id").notNull(),
    fromAreaId: integer("from_area_id"),
    toAreaId: integer("to_area_id"),
    fromCityId: integer("from_city_id"),
    toCityId: integer("to_city_id"),
    fromDate: timestamp("from_date", { withTimezone: true }).notNull(),
    toDate: timestamp("to_date", { withTimezone: true }),
    onlineBooking: boolean("online_booking").notNull(),
    mobileSiteBooking: boolean("mobile_site_booking").notNull(),
    bookingCreated: timestamp("booking_created", { withTimezone: true }).notNull(),
    fromLat: doublePrecision("from_lat"),
    fromLong: doublePrecision("from_long"),
    toLat: doublePrecision("to_lat"),
    toLong: doublePrecision("to_long"),
    carCancellation: boolean("car_cancellation").notNull(),
    jobId: bigint("job_id", { mode: "number" }).notNull(),
    storedAt: timestamp("stored_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.id, t.fromDate] }),
    check("rides_from_lat_check", sql`${t.fromLat} between -90 and 90`),
    check("rides_to_lat_check", sql`${t.toLat} between -90 and 90`),
    check("rides_from_long_check", sql`${t.fromLong} between -180 and 180`),
    check("rides_to_long_check", sql`${t.toLong} between -180 and 180`),
  ],
);

/**
 * What each rollup row sums over its rides: one column per additive quantity, so
 * every measure but distinct_users is a formula over sums (src/rollup/rollups.ts).
 */
const rollupSums = () => ({
  rides: bigint("rides", { mode: "number" }).notNull(),
  cancellations: bigint("cancellations", { mode: "number" }).notNull(),
  onlineBookings: bigint("online_bookings", { mode: "number" }).notNull(),
  mobileBookings: bigint("mobile_bookings", { mode: "number" }).notNull(),
  leadSeconds: numeric("lead_seconds").notNull(),
  tripM: bigint("trip_m", { mode: "number" }).notNull(),
  tripKmRides: bigint("trip_km_rides", { mode: "number" }).notNull(),
});

/**
 * Rollups: rides per hour, day or month of from_date (on RIDES_TIME_ZONE's clock, like
 * the partitions) by a set of dimensions, kept current from rollup_log. Each answers the
 * questions its dimensions and grain cover; the narrow and coarse ones are small enough
 * to make the common questions cheap. A group whose rides all moved away keeps a row of
 * zeros.
 */
export const ridesHourly = pgTable(
  "rides_hourly",
  {
    hour: timestamp("hour", { withTimezone: true }).notNull(),
    travelTypeId: integer("travel_type_id").notNull(),
    vehicleModelId: integer("vehicle_model_id").notNull(),
    packageId: integer("package_id"),
    fromCityId: integer("from_city_id"),
    onlineBooking: boolean("online_booking").notNull(),
    mobileSiteBooking: boolean("mobile_site_booking").notNull(),
    carCancellation: boolean("car_cancellation").notNull(),
    ...rollupSums(),
  },
  (t) => [
    unique("rides_hourly_key")
      .on(t.hour, t.travelTypeId, t.vehicleModelId, t.packageId, t.fromCityId, t.onlineBooking, t.mobileSiteBooking, t.carCancellation)
      .nullsNotDistinct(),
  ],
);

export const ridesHourlyByModel = pgTable(
  "rides_hourly_by_model",
  {
    hour: timestamp("hour", { withTimezone: true }).notNull(),
    travelTypeId: integer("travel_type_id").notNull(),
    vehicleModelId: integer("vehicle_model_id").notNull(),
    ...rollupSums(),
  },
  (t) => [unique("rides_hourly_by_model_key").on(t.hour, t.travelTypeId, t.vehicleModelId)],
);

export const ridesHourlyByTravelType = pgTable(
  "rides_hourly_by_travel_type",
  {
    hour: timestamp("hour", { withTimezone: true }).notNull(),
    travelTypeId: integer("travel_type_id").notNull(),
    ...rollupSums(),
  },
  (t) => [unique("rides_hourly_by_travel_type_key").on(t.hour, t.travelTypeId)],
);

export const ridesDailyByModel = pgTable(
  "rides_daily_by_model",
  {
    day: timestamp("day", { withTimezone: true }).notNull(),
    travelTypeId: integer("travel_type_id").notNull(),
    vehicleModelId: integer("vehicle_model_id").notNull(),
    ...rollupSums(),
  },
  (t) => [unique("rides_daily_by_model_key").on(t.day, t.travelTypeId, t.vehicleModelId)],
);

export const ridesMonthlyByModel = pgTable(
  "rides_monthly_by_model",
  {
    month: timestamp("month", { withTimezone: true }).notNull(),
    travelTypeId: integer("travel_type_id").notNull(),
    vehicleModelId: integer("vehicle_model_id").notNull(),
    ...rollupSums(),
  },
  (t) => [unique("rides_monthly_by_model_key").on(t.month, t.travelTypeId, t.vehicleModelId)],
);

/** Pickup areas are many: only daily and monthly grains make their rollups much smaller than rides. */
export const ridesDailyByArea = pgTable(
  "rides_daily_by_area",
  {
    day: timestamp("day", { withTimezone: true }).notNull(),
    fromAreaId: integer("from_area_id"),
    ...rollupSums(),
  },
  (t) => [unique("rides_daily_by_area_key").on(t.day, t.fromAreaId).nullsNotDistinct()],
);

export const ridesMonthlyByArea = pgTable(
  "rides_monthly_by_area",
  {
    month: timestamp("month", { withTimezone: true }).notNull(),
    fromAreaId: integer("from_area_id"),
    ...rollupSums(),
  },
  (t) => [unique("rides_monthly_by_area_key").on(t.month, t.fromAreaId).nullsNotDistinct()],
);

/**
 * What the mover changed in rides and the rollups do not hold yet: each stored ride
 * (sign 1) and each copy it replaced or moved away (sign -1), with the columns the
 * rollups need. Written in the mover's transaction, so it is exactly as durable as the
 * rides; appending here costs the intake far less than updating every rollup, which a
 * folder does off the intake path. Queries add the pending rows to their rollup, so
 * answers never lag behind rides. No index: the folder takes the whole table, and it is
 * kept small.
 */
export const rollupLog = pgTable("rollup_log", {
  sign: smallint("sign").notNull(),
  fromDate: timestamp("from_date", { withTimezone: true }).notNull(),
  bookingCreated: timestamp("booking_created", { withTimezone: true }).notNull(),
  travelTypeId: integer("travel_type_id").notNull(),
  vehicleModelId: integer("vehicle_model_id").notNull(),
  packageId: integer("package_id"),
  fromAreaId: integer("from_area_id"),
  fromCityId: integer("from_city_id"),
  onlineBooking: boolean("online_booking").notNull(),
  mobileSiteBooking: boolean("mobile_site_booking").notNull(),
  carCancellation: boolean("car_cancellation").notNull(),
  fromLat: doublePrecision("from_lat"),
  fromLong: doublePrecision("from_long"),
  toLat: doublePrecision("to_lat"),
  toLong: doublePrecision("to_long"),
});
