import { pino } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type Logger = pino.Logger;

/**
 * JSON lines on stdout. Nothing logs a request's headers or body, and the paths below
 * are censored as well in case a future log line carries a request or a client config.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "rides-ingest" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ["authorization", "*.authorization", "headers.authorization", "*.headers.authorization", "apiKey", "*.apiKey"],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
