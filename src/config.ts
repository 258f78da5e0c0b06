import type pg from "pg";
import * as v from "valibot";
import { LOG_LEVELS, type LogLevel } from "./observability/logger.ts";
import { type ApiKey, parseApiKeys } from "./auth/api-keys.ts";
import { type ConfiguredWebhook, parseWebhookUrls } from "./webhooks/url.ts";

const integer = (name: string, fallback: number, min: number, max: number) =>
  v.pipe(
    v.optional(v.string(), String(fallback)),
    v.transform(Number),
    v.number(`${name} must be a number`),
    v.integer(`${name} must be a whole number`),
    v.minValue(min, `${name} must be at least ${min}`),
    v.maxValue(max, `${name} must be at most ${max}`),
  );

/** The zone names PostgreSQL knows (lower case: both sides match names in any case), once loaded at start. */
let postgresZones: Set<string> | undefined;

/**
 * An IANA zone name that both Node's Intl and PostgreSQL accept: each side converts
 * times (Intl reads the rides, PostgreSQL cuts buckets and partitions), and their zone
 * lists differ (Intl takes US/Pacific-New, PostgreSQL does not). Until the server's list
 * is loaded (loadPostgresTimeZones, at start) only Intl is asked. Intl also takes offsets
 * such as "+05:30", which PostgreSQL reads as POSIX zones, with the opposite sign:
 * buckets would be cut on another clock.
 */
export const isTimeZone = (zone: string): boolean => {
  if (/^[+-]/.test(zone)) return false;
  if (postgresZones && !postgresZones.has(zone.toLowerCase())) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

const postgresUrl = (name: string) =>
  v.optional(v.pipe(v.string(), v.regex(/^postgres(ql)?:\/\//, `${name} must be a postgres:// URL`)));

/** Reads pg_timezone_names once; a RIDES_TIME_ZONE the server does not know stops the start. */
export async function loadPostgresTimeZones(pool: pg.Pool, configuredZone: string): Promise<void> {
  const { rows } = await pool.query<{ name: string }>("SELECT name FROM pg_timezone_names");
  postgresZones = new Set(rows.map((row) => row.name.toLowerCase()));
  if (!isTimeZone(configuredZone)) {
    throw new Error(`Invalid configuration:\n  - RIDES_TIME_ZONE=${configuredZone} is not a time zone this PostgreSQL knows`);
  }
}

const ConfigSchema = v.object({
  DATABASE_URL: postgresUrl("DATABASE_URL"),
  DIRECT_DATABASE_URL: postgresUrl("DIRECT_DATABASE_URL"),
  ANALYTICS_DATABASE_URL: postgresUrl("ANALYTICS_DATABASE_URL"),
  DATABASE_POOL_SIZE: integer("DATABASE_POOL_SIZE", 8, 1, 1000),
  ANALYTICS_POOL_SIZE: integer("ANALYTICS_POOL_SIZE", 4, 1, 1000),
  ANALYTICS_CONNECT_TIMEOUT_MS: integer("ANALYTICS_CONNECT_TIMEOUT_MS", 2_000, 100, 60_000),
  QUERY_QUEUE_LIMIT: integer("QUERY_QUEUE_LIMIT", 16, 0, 10_000),
  DRAIN_DELAY_MS: integer("DRAIN_DELAY_MS", 0, 0, 60_000),
  HOST: v.optional(v.pipe(v.string(), v.nonEmpty("HOST must not be empty")), "127.0.0.1"),
  PORT: integer("PORT", 3000, 0, 65535),
  RIDES_TIME_ZONE: v.pipe(
    v.optional(v.string(), "Asia/Kolkata"),
    v.check(isTimeZone, "RIDES_TIME_ZONE must be an IANA time zone such as Asia/Kolkata"),
  ),
  BODY_LIMIT_BYTES: integer("BODY_LIMIT_BYTES", 8 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  MAX_RIDES_PER_REQUEST: integer("MAX_RIDES_PER_REQUEST", 10_000, 1, 1_000_000),
  INTAKE_MEMORY_BUDGET_BYTES: integer("INTAKE_MEMORY_BUDGET_BYTES", 16 * 1024 * 1024, 1024, 16 * 1024 * 1024 * 1024),
  INTAKE_BUDGET_WAIT_MS: integer("INTAKE_BUDGET_WAIT_MS", 0, 0, 600_000),
  HEADERS_TIMEOUT_MS: integer("HEADERS_TIMEOUT_MS", 10_000, 100, 600_000),
  BODY_TIMEOUT_MS: integer("BODY_TIMEOUT_MS", 60_000, 100, 3_600_000),
  MOVER_CHUNK_ROWS: integer("MOVER_CHUNK_ROWS", 20_000, 1, 1_000_000),
  STAGING_DURABILITY: v.optional(
    v.picklist(["unlogged", "logged"], "STAGING_DURABILITY must be unlogged or logged"),
    "unlogged",
  ),
  DATA_DIR: v.optional(v.string(), ".data"),
  LOG_LEVEL: v.optional(v.picklist(LOG_LEVELS, `LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`), "warn"),
  STAGING_MAX_RIDES: integer("STAGING_MAX_RIDES", 1_000_000, 1, 100_000_000),
  WAIT_STORED_TIMEOUT_MS: integer("WAIT_STORED_TIMEOUT_MS", 10_000, 100, 25_000),
  API_KEYS: v.pipe(
    v.optional(v.string(), ""),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      try {
        return parseApiKeys(dataset.value);
      } catch (error) {
        addIssue({ message: (error as Error).message });
        return NEVER;
      }
    }),
  ),
  QUERY_MAX_SPAN_DAYS: integer("QUERY_MAX_SPAN_DAYS", 400, 1, 3660),
  QUERY_MAX_ROWS: integer("QUERY_MAX_ROWS", 10_000, 1, 1_000_000),
  QUERY_TIMEOUT_MS: integer("QUERY_TIMEOUT_MS", 10_000, 100, 600_000),
  STREAM_MAX_IN_FLIGHT: integer("STREAM_MAX_IN_FLIGHT", 1_000, 1, 100_000),
  STREAM_MAX_OPEN: integer("STREAM_MAX_OPEN", 1_000, 1, 100_000),
  STREAM_PING_INTERVAL_MS: integer("STREAM_PING_INTERVAL_MS", 30_000, 100, 600_000),
  STREAM_IDLE_TIMEOUT_MS: integer("STREAM_IDLE_TIMEOUT_MS", 300_000, 100, 86_400_000),
  JOBS_RETENTION_DAYS: integer("JOBS_RETENTION_DAYS", 30, 1, 3650),
  IDEMPOTENCY_KEY_TTL_HOURS: integer("IDEMPOTENCY_KEY_TTL_HOURS", 24, 1, 24 * 3650),
  JOBS_PARTITION_SIZE: integer("JOBS_PARTITION_SIZE", 250_000, 10, 100_000_000),
  PRUNE_INTERVAL_MINUTES: integer("PRUNE_INTERVAL_MINUTES", 15, 1, 60),
  RIDES_RETENTION_MONTHS: v.optional(integer("RIDES_RETENTION_MONTHS", 0, 1, 1200)),
  // Notifications (GET /v1/jobs/events, webhooks): docs/notifications.md.
  SSE_MAX_OPEN: integer("SSE_MAX_OPEN", 100, 1, 100_000),
  SSE_PING_INTERVAL_MS: integer("SSE_PING_INTERVAL_MS", 15_000, 100, 600_000),
  WEBHOOK_URLS: v.optional(v.string(), ""),
  WEBHOOK_SECRET: v.optional(
    v.pipe(v.string(), v.regex(/^[\x21-\x7e]{16,200}$/, "WEBHOOK_SECRET must be 16 to 200 printable characters without spaces")),
  ),
  WEBHOOK_ALLOW_PRIVATE_URLS: v.optional(
    v.pipe(v.picklist(["true", "false"], "WEBHOOK_ALLOW_PRIVATE_URLS must be true or false"), v.transform((text) => text === "true")),
    "false",
  ),
  WEBHOOK_TIMEOUT_MS: integer("WEBHOOK_TIMEOUT_MS", 10_000, 100, 120_000),
  WEBHOOK_CONCURRENCY: integer("WEBHOOK_CONCURRENCY", 4, 1, 100),
  WEBHOOK_RETRY_DELAY_SECONDS: integer("WEBHOOK_RETRY_DELAY_SECONDS", 30, 1, 3_600),
  WEBHOOK_RETRY_DELAY_MAX_SECONDS: integer("WEBHOOK_RETRY_DELAY_MAX_SECONDS", 3_600, 1, 86_400),
  WEBHOOK_RETRY_LIMIT: integer("WEBHOOK_RETRY_LIMIT", 32, 0, 1_000),
});

/** Every environment variable the service reads. */
export const SETTINGS = Object.keys(ConfigSchema.entries);

const LOOPBACK = /^(127(\.\d{1,3}){3}|::1|localhost)$/i;
export const isLoopback = (host: string) => LOOPBACK.test(host);

export type Config = {
  databaseUrl: string | undefined;
  /** For what needs a session (pg-boss and its LISTEN, migrations); DATABASE_URL when unset. */
  directDatabaseUrl: string | undefined;
  /** For the read-only analytics (POST /v1/query, the dashboard's rides per hour); DATABASE_URL when unset. */
  analyticsDatabaseUrl: string | undefined;
  databasePoolSize: number;
  analyticsPoolSize: number;
  analyticsConnectTimeoutMs: number;
  queryQueueLimit: number;
  /** After SIGTERM, how long /readyz answers 503 while requests are still served, before the listener closes. */
  drainDelayMs: number;
  host: string;
  port: number;
  timeZone: string;
  bodyLimitBytes: number;
  maxRidesPerRequest: number;
  intakeMemoryBudgetBytes: number;
  intakeBudgetWaitMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  moverChunkRows: number;
  stagingDurability: "unlogged" | "logged";
  dataDir: string;
  logLevel: LogLevel;
  stagingMaxRides: number;
  waitStoredTimeoutMs: number;
  apiKeys: ApiKey[];
  queryMaxSpanDays: number;
  queryMaxRows: number;
  queryTimeoutMs: number;
  stream: StreamLimits;
  jobsRetentionDays: number;
  idempotencyKeyTtlHours: number;
  jobsPartitionSize: number;
  pruneIntervalMinutes: number;
  /** Unset: rides are kept forever. */
  ridesRetentionMonths: number | undefined;
  sse: SseLimits;
  webhooks: WebhookSettings;
};

export type SseLimits = { maxOpen: number; pingIntervalMs: number };

export type WebhookSettings = {
  /** WEBHOOK_URLS, each signed with WEBHOOK_SECRET. */
  configured: ConfiguredWebhook[];
  secret: string | undefined;
  /** Deliver to loopback, private and link-local addresses too (tests, a receiver on the same host). */
  allowPrivateUrls: boolean;
  timeoutMs: number;
  concurrency: number;
  retryDelaySeconds: number;
  retryDelayMaxSeconds: number;
  retryLimit: number;
};

export type StreamLimits = { maxInFlight: number; maxOpen: number; pingIntervalMs: number; idleTimeoutMs: number };

/** Reads the environment once at boot; a bad value stops the process with every problem named. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ""),
  );
  const result = v.safeParse(ConfigSchema, input);
  if (!result.success) {
    const problems = result.issues.map((issue) => `  - ${issue.message}`).join("\n");
    throw new Error(`Invalid configuration:\n${problems}`);
  }
  const c = result.output;
  if (c.API_KEYS.length === 0 && !isLoopback(c.HOST)) {
    throw new Error(
      `Invalid configuration:\n  - HOST=${c.HOST} would serve rides to anyone without a key: set API_KEYS (secret:ingest+read,...) or listen on 127.0.0.1`,
    );
  }
  if (!c.DATABASE_URL && (c.DIRECT_DATABASE_URL || c.ANALYTICS_DATABASE_URL)) {
    throw new Error(
      "Invalid configuration:\n  - DIRECT_DATABASE_URL and ANALYTICS_DATABASE_URL need DATABASE_URL (unset, the embedded PostgreSQL serves all three)",
    );
  }
  let configuredWebhooks: ConfiguredWebhook[];
  try {
    configuredWebhooks = parseWebhookUrls(c.WEBHOOK_URLS, c.WEBHOOK_ALLOW_PRIVATE_URLS);
  } catch (error) {
    throw new Error(`Invalid configuration:\n  - ${(error as Error).message}`);
  }
  if (configuredWebhooks.length > 0 && !c.WEBHOOK_SECRET) {
    throw new Error("Invalid configuration:\n  - WEBHOOK_URLS needs WEBHOOK_SECRET (at least 16 characters), which signs their deliveries");
  }
  if (c.BODY_LIMIT_BYTES > c.INTAKE_MEMORY_BUDGET_BYTES) {
    // A body the budget can never hold would be answered 503 forever instead of 413.
    throw new Error(
      `Invalid configuration:\n  - BODY_LIMIT_BYTES=${c.BODY_LIMIT_BYTES} must not exceed INTAKE_MEMORY_BUDGET_BYTES=${c.INTAKE_MEMORY_BUDGET_BYTES}`,
    );
  }
  if (c.INTAKE_BUDGET_WAIT_MS >= c.BODY_TIMEOUT_MS) {
    // Node cuts a request off when its body is not in by then, the wait for room included.
    throw new Error(
      `Invalid configuration:\n  - INTAKE_BUDGET_WAIT_MS=${c.INTAKE_BUDGET_WAIT_MS} must be less than BODY_TIMEOUT_MS=${c.BODY_TIMEOUT_MS}`,
    );
  }
  return {
    databaseUrl: c.DATABASE_URL,
    directDatabaseUrl: c.DIRECT_DATABASE_URL,
    analyticsDatabaseUrl: c.ANALYTICS_DATABASE_URL,
    databasePoolSize: c.DATABASE_POOL_SIZE,
    analyticsPoolSize: c.ANALYTICS_POOL_SIZE,
    analyticsConnectTimeoutMs: c.ANALYTICS_CONNECT_TIMEOUT_MS,
    queryQueueLimit: c.QUERY_QUEUE_LIMIT,
    drainDelayMs: c.DRAIN_DELAY_MS,
    host: c.HOST,
    port: c.PORT,
    timeZone: c.RIDES_TIME_ZONE,
    bodyLimitBytes: c.BODY_LIMIT_BYTES,
    maxRidesPerRequest: c.MAX_RIDES_PER_REQUEST,
    intakeMemoryBudgetBytes: c.INTAKE_MEMORY_BUDGET_BYTES,
    intakeBudgetWaitMs: c.INTAKE_BUDGET_WAIT_MS,
    headersTimeoutMs: c.HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: c.BODY_TIMEOUT_MS,
    moverChunkRows: c.MOVER_CHUNK_ROWS,
    stagingDurability: c.STAGING_DURABILITY,
    dataDir: c.DATA_DIR,
    logLevel: c.LOG_LEVEL,
    stagingMaxRides: c.STAGING_MAX_RIDES,
    waitStoredTimeoutMs: c.WAIT_STORED_TIMEOUT_MS,
    apiKeys: c.API_KEYS,
    queryMaxSpanDays: c.QUERY_MAX_SPAN_DAYS,
    queryMaxRows: c.QUERY_MAX_ROWS,
    queryTimeoutMs: c.QUERY_TIMEOUT_MS,
    stream: {
      maxInFlight: c.STREAM_MAX_IN_FLIGHT,
      maxOpen: c.STREAM_MAX_OPEN,
      pingIntervalMs: c.STREAM_PING_INTERVAL_MS,
      idleTimeoutMs: c.STREAM_IDLE_TIMEOUT_MS,
    },
    jobsRetentionDays: c.JOBS_RETENTION_DAYS,
    idempotencyKeyTtlHours: c.IDEMPOTENCY_KEY_TTL_HOURS,
    jobsPartitionSize: c.JOBS_PARTITION_SIZE,
    pruneIntervalMinutes: c.PRUNE_INTERVAL_MINUTES,
    ridesRetentionMonths: c.RIDES_RETENTION_MONTHS,
    sse: { maxOpen: c.SSE_MAX_OPEN, pingIntervalMs: c.SSE_PING_INTERVAL_MS },
    webhooks: {
      configured: configuredWebhooks,
      secret: c.WEBHOOK_SECRET,
      allowPrivateUrls: c.WEBHOOK_ALLOW_PRIVATE_URLS,
      timeoutMs: c.WEBHOOK_TIMEOUT_MS,
      concurrency: c.WEBHOOK_CONCURRENCY,
      retryDelaySeconds: c.WEBHOOK_RETRY_DELAY_SECONDS,
      retryDelayMaxSeconds: c.WEBHOOK_RETRY_DELAY_MAX_SECONDS,
      retryLimit: c.WEBHOOK_RETRY_LIMIT,
    },
  };
}
