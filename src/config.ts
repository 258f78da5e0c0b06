import * as v from "valibot";
import { LOG_LEVELS, type LogLevel } from "./observability/logger.ts";
import { type ApiKey, parseApiKeys } from "./auth/api-keys.ts";

const integer = (name: string, fallback: number, min: number, max: number) =>
  v.pipe(
    v.optional(v.string(), String(fallback)),
    v.transform(Number),
    v.number(`${name} must be a number`),
    v.integer(`${name} must be a whole number`),
    v.minValue(min, `${name} must be at least ${min}`),
    v.maxValue(max, `${name} must be at most ${max}`),
  );

/**
 * An IANA zone name. Intl also takes offsets such as "+05:30", which PostgreSQL reads as
 * POSIX zones, with the opposite sign: buckets would be cut on another clock.
 */
export const isTimeZone = (zone: string): boolean => {
  if (/^[+-]/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

const ConfigSchema = v.object({
  DATABASE_URL: v.optional(
    v.pipe(v.string(), v.regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// URL")),
  ),
  HOST: v.optional(v.pipe(v.string(), v.nonEmpty("HOST must not be empty")), "127.0.0.1"),
  PORT: integer("PORT", 3000, 0, 65535),
  RIDES_TIME_ZONE: v.pipe(
    v.optional(v.string(), "Asia/Kolkata"),
    v.check(isTimeZone, "RIDES_TIME_ZONE must be an IANA time zone such as Asia/Kolkata"),
  ),
  BODY_LIMIT_BYTES: integer("BODY_LIMIT_BYTES", 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  MAX_RIDES_PER_REQUEST: integer("MAX_RIDES_PER_REQUEST", 10_000, 1, 1_000_000),
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
  JOBS_RETENTION_DAYS: integer("JOBS_RETENTION_DAYS", 30, 1, 3650),
  IDEMPOTENCY_KEY_TTL_HOURS: integer("IDEMPOTENCY_KEY_TTL_HOURS", 24, 1, 24 * 3650),
  JOBS_PARTITION_SIZE: integer("JOBS_PARTITION_SIZE", 250_000, 10, 100_000_000),
  PRUNE_INTERVAL_MINUTES: integer("PRUNE_INTERVAL_MINUTES", 15, 1, 60),
  RIDES_RETENTION_MONTHS: v.optional(integer("RIDES_RETENTION_MONTHS", 0, 1, 1200)),
});

const LOOPBACK = /^(127(\.\d{1,3}){3}|::1|localhost)$/i;
export const isLoopback = (host: string) => LOOPBACK.test(host);

export type Config = {
  databaseUrl: string | undefined;
  host: string;
  port: number;
  timeZone: string;
  bodyLimitBytes: number;
  maxRidesPerRequest: number;
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
  jobsRetentionDays: number;
  idempotencyKeyTtlHours: number;
  jobsPartitionSize: number;
  pruneIntervalMinutes: number;
  /** Unset: rides are kept forever. */
  ridesRetentionMonths: number | undefined;
};

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
  return {
    databaseUrl: c.DATABASE_URL,
    host: c.HOST,
    port: c.PORT,
    timeZone: c.RIDES_TIME_ZONE,
    bodyLimitBytes: c.BODY_LIMIT_BYTES,
    maxRidesPerRequest: c.MAX_RIDES_PER_REQUEST,
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
    jobsRetentionDays: c.JOBS_RETENTION_DAYS,
    idempotencyKeyTtlHours: c.IDEMPOTENCY_KEY_TTL_HOURS,
    jobsPartitionSize: c.JOBS_PARTITION_SIZE,
    pruneIntervalMinutes: c.PRUNE_INTERVAL_MINUTES,
    ridesRetentionMonths: c.RIDES_RETENTION_MONTHS,
  };
}
