#!/usr/bin/env -S node --experimental-strip-types
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { createClient, type Job, type Rejection, RidesApiError } from "../client/client.ts";
import { StreamRefused } from "../client/stream.ts";
import { JOB_STATUSES } from "../jobs/store.ts";
import { progressBar } from "./progress.ts";
import { sendFile, type SendSummary } from "./send.ts";
import { openInput, type StreamProgress, streamRides } from "./stream.ts";
import { table } from "./table.ts";

const USAGE = `rides: send rides to rides-ingest and follow them

  rides send FILE [--batch-size 1000] [--concurrency 2] [--wait 120] [--tz Area/City]
      FILE is .csv (the producer's format), .ndjson/.jsonl or .json; --wait 0 does not wait for the jobs
  rides stream [FILE|-] [--window 256] [--wait 120] [--tz Area/City]
      one ride per frame over a WebSocket, from the file or standard input (NDJSON, or the
      producer's CSV line by line); reconnects and resends what was not acknowledged
  rides status JOB
  rides jobs [--status queued|done|failed|lost] [--since ISO-TIME] [--limit N]
  rides rejections [JOB] [--since ISO-TIME] [--until ISO-TIME] [--field FIELD] [--limit N] [--cursor C]
      the rejected rides kept with their jobs (one job's, or every job's newest first), with
      their reasons and raw input; --cursor takes the next cursor a page ends with
  rides retry JOB
      stages a failed job's kept rides again, once the cause is fixed, and waits for its outcome
  rides query '<json>'

  --url URL        the service (env RIDES_URL, default http://127.0.0.1:3000)
  --api-key KEY    sent as Authorization: Bearer (env RIDES_API_KEY)

Exit status: 0 all well, 1 some rides were rejected or jobs failed or were lost, 2 usage or service error.`;

class UsageError extends Error {}

const OPTIONS = {
  url: { type: "string" },
  "api-key": { type: "string" },
  "batch-size": { type: "string" },
  concurrency: { type: "string" },
  wait: { type: "string" },
  window: { type: "string" },
  tz: { type: "string" },
  status: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  field: { type: "string" },
  cursor: { type: "string" },
  limit: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function wholeNumber(name: string, text: string | undefined, fallback?: number, min = 1): number {
  if (text === undefined && fallback !== undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new UsageError(`${name} must be a whole number of at least ${min}, got "${text ?? ""}"`);
  return value;
}

const JOB_COLUMNS = ["job_id", "status", "accepted", "stored", "superseded", "failed", "received_at", "finished_at", "error"] as const;
const jobTable = (jobs: Job[]) => table([...JOB_COLUMNS], jobs.map((job) => JOB_COLUMNS.map((column) => job[column])));

function printSummary(file: string, summary: SendSummary, unit = "batches") {
  const count = (status: Job["status"]) => summary.jobs.filter((job) => job.status === status).length;
  const lines = [
    `${file}: ${summary.total} rides in ${summary.batches} ${unit}`,
    `accepted  ${summary.accepted}`,
    `rejected  ${summary.rejectedCount}`,
    ...summary.rejected.map((ride) => `  ride ${ride.ride} (id ${ride.id ?? "?"}): ${ride.reasons.join("; ")}`),
    ...(summary.rejectedCount > summary.rejected.length ? [`  (${summary.rejectedCount - summary.rejected.length} more not listed)`] : []),
  ];
  if (summary.refused.length > 0) {
    lines.push(`refused batches  ${summary.refused.length}`);
    for (const batch of summary.refused) lines.push(`  rides ${batch.firstRide}-${batch.firstRide + batch.rides - 1}: ${batch.status} ${batch.detail}`);
  }
  lines.push(`jobs      ${summary.jobs.length}: ${count("done")} done, ${count("failed")} failed, ${count("lost")} lost, ${count("queued")} still queued`);
  for (const job of summary.jobs.filter((job) => job.status === "failed" || job.status === "lost")) {
    lines.push(`  job ${job.job_id} ${job.status}: ${job.error}`);
  }
  console.log(lines.join("\n"));
  const clean = summary.rejectedCount === 0 && summary.refused.length === 0 && count("done") === summary.jobs.length;
  return clean ? 0 : 1;
}

/** Raw input is shown on one line and at most this long; the API has all of it. */
const RAW_SHOWN = 80;
const rejectionRow = (r: Rejection) => [
  r.job_id,
  r.index,
  r.ride_id,
  r.reasons.map((reason) => (reason.path ? `${reason.path}: ${reason.message}` : reason.message)).join("; "),
  r.raw.length > RAW_SHOWN ? `${r.raw.slice(0, RAW_SHOWN - 1).replace(/\s+/g, " ")}…` : r.raw.replace(/\s+/g, " "),
  r.truncated,
];

/** Shows a query's answer as a table: columns + rows, or a list of objects. */
function printAnswer(answer: { columns?: string[]; rows: unknown[] }) {
  const objects = answer.rows.length > 0 && !Array.isArray(answer.rows[0]);
  const columns = answer.columns ?? (objects ? Object.keys(answer.rows[0] as object) : []);
  const rows = answer.rows.map((row) => (Array.isArray(row) ? row : columns.map((column) => (row as Record<string, unknown>)[column])));
  console.log(table(columns, rows));
  console.log(`(${rows.length} rows)`);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [command, argument] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const baseUrl = values.url ?? process.env.RIDES_URL ?? "http://127.0.0.1:3000";
  const apiKey = values["api-key"] ?? process.env.RIDES_API_KEY;
  const client = createClient({
    baseUrl,
    apiKey,
    onRetry: (status, delayMs) =>
      process.stderr.write(`${status ? `service answered ${status}` : "service unreachable"}; retrying in ${(delayMs / 1000).toFixed(1)} s\n`),
  });

  switch (command) {
    case "send": {
      if (!argument) throw new UsageError("rides send needs a FILE");
      let bar: ReturnType<typeof progressBar> | undefined;
      const summary = await sendFile(client, argument, {
        batchSize: wholeNumber("--batch-size", values["batch-size"], 1000),
        concurrency: wholeNumber("--concurrency", values.concurrency, 2),
        waitMs: wholeNumber("--wait", values.wait, 120, 0) * 1000,
        timeZone: values.tz,
        onStart: (rides) => {
          bar = progressBar(process.stderr, rides, "rides");
        },
        onBatch: (batch, outcome) => bar?.advance(batch.rides, outcome),
      });
      return printSummary(basename(argument), summary);
    }
    case "stream": {
      const source = argument ?? "-";
      const streamProgress = (p: StreamProgress, final: boolean) => {
        const line = `sent ${p.sent}, acked ${p.acked}, stored ${p.stored}, rejected ${p.rejected}`;
        if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K${final ? "\n" : ""}`);
        else process.stderr.write(`${line}\n`);
      };
      const summary = await streamRides(client, openInput(source), {
        baseUrl,
        apiKey,
        timeZone: values.tz,
        waitMs: wholeNumber("--wait", values.wait, 120, 0) * 1000,
        window: wholeNumber("--window", values.window, 256),
        onProgress: streamProgress,
        onRetry: (why, delayMs) => process.stderr.write(`${why}; retrying in ${(delayMs / 1000).toFixed(1)} s\n`),
      });
      return printSummary(source === "-" ? "stdin" : basename(source), summary, "frames");
    }
    case "status": {
      const jobId = wholeNumber("JOB", argument);
      const job = await client.getJob(jobId);
      console.log(table(["field", "value"], Object.entries(job)));
      return job.status === "failed" || job.status === "lost" ? 1 : 0;
    }
    case "jobs": {
      const status = values.status as Job["status"] | undefined;
      if (status !== undefined && !JOB_STATUSES.includes(status)) throw new UsageError(`--status must be one of ${JOB_STATUSES.join(", ")}`);
      const jobs = await client.listJobs({ status, since: values.since, limit: wholeNumber("--limit", values.limit, 100) });
      console.log(jobTable(jobs));
      return 0;
    }
    case "rejections": {
      const jobId = argument === undefined ? undefined : wholeNumber("JOB", argument);
      const filter = { since: values.since, until: values.until, field: values.field, cursor: values.cursor, limit: wholeNumber("--limit", values.limit, 100) };
      const page = await client.rejections(jobId, filter);
      console.log(table(["job_id", "index", "ride_id", "reasons", "raw", "truncated"], page.rejections.map(rejectionRow)));
      console.log(page.next_cursor === null ? `(${page.rejections.length} rejected rides)` : `(${page.rejections.length} rejected rides; more with --cursor ${page.next_cursor})`);
      return 0;
    }
    case "retry": {
      const jobId = wholeNumber("JOB", argument);
      await client.retryJob(jobId);
      const [job] = await client.waitForJobs([jobId], wholeNumber("--wait", values.wait, 120, 0) * 1000);
      console.log(table(["field", "value"], Object.entries(job)));
      return job.status === "done" ? 0 : 1;
    }
    case "query": {
      if (!argument) throw new UsageError("rides query needs the query as JSON");
      let query: unknown;
      try {
        query = JSON.parse(argument);
      } catch (error) {
        throw new UsageError(`the query is not JSON: ${(error as Error).message}`);
      }
      printAnswer(await client.query(query));
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) console.error(`${error.message}\n\n${USAGE}`);
  else if (error instanceof StreamRefused) console.error(`the service refused the stream: ${error.status} ${error.message}`);
  else if (error instanceof RidesApiError) console.error(`the service refused: ${error.status} ${error.message}`);
  else console.error(`rides: ${(error as Error).message}`);
  process.exitCode = 2;
}
