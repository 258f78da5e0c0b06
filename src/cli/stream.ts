import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import type { Job, RidesClient } from "../client/client.ts";
import { createStreamer, type JobStatusMessage } from "../client/stream.ts";
import { parseCsv } from "../rides/formats/csv.ts";
import type { RejectedRide, SendSummary } from "./send.ts";

export type StreamOptions = {
  baseUrl: string;
  apiKey?: string;
  timeZone?: string;
  /** How long to wait for the jobs to be stored once every frame is acknowledged; 0 does not wait. */
  waitMs: number;
  /** Frames sent and not yet acknowledged, at most. */
  window: number;
  onProgress?: (progress: StreamProgress, final: boolean) => void;
  onRetry?: (why: string, delayMs: number) => void;
};

export type StreamProgress = { sent: number; acked: number; stored: number; rejected: number };

const PROGRESS_EVERY_MS = 250;
/** No job status on the stream for this long: the rest are asked for over HTTP. */
const STATUS_SILENCE_MS = 2_000;

/** Each line of the input → one ride to send, or why it cannot be one (numbered from 1 = the first ride). */
function rideReader() {
  let csvHeader: string | undefined;
  let format: "ndjson" | "csv" | undefined;
  return (line: string, ride: number): { input: unknown } | { reasons: string[] } | undefined => {
    if (line.trim() === "") return undefined;
    // The first line tells the format: a JSON object, or the producer's CSV header.
    format ??= line.trimStart().startsWith("{") ? "ndjson" : "csv";
    if (format === "csv" && csvHeader === undefined) {
      csvHeader = line;
      return undefined;
    }
    if (format === "ndjson") {
      try {
        return { input: JSON.parse(line) };
      } catch (error) {
        return { reasons: [`ride ${ride} is not valid JSON: ${(error as Error).message}`] };
      }
    }
    try {
      const [candidate] = parseCsv(`${csvHeader}\n${line}\n`);
      return candidate.errors ? { reasons: candidate.errors.map((error) => error.message) } : { input: candidate.input };
    } catch (error) {
      return { reasons: [(error as Error).message] };
    }
  };
}

/**
 * Streams a file or standard input, one ride per frame, over one WebSocket at a time
 * (reconnecting and resending what was not acknowledged), then waits for the jobs.
 */
export async function streamRides(client: RidesClient, input: Readable, options: StreamOptions): Promise<SendSummary> {
  const summary: SendSummary = { total: 0, batches: 0, accepted: 0, rejectedCount: 0, rejected: [], refused: [], jobs: [] };
  const progress: StreamProgress = { sent: 0, acked: 0, stored: 0, rejected: 0 };
  const statuses = new Map<number, JobStatusMessage | Job>();
  const ackedJobs: number[] = [];
  let lastStatusAt = Date.now();
  let shownAt = 0;
  const show = (final = false) => {
    if (!final && Date.now() - shownAt < PROGRESS_EVERY_MS) return;
    shownAt = Date.now();
    options.onProgress?.({ ...progress }, final);
  };
  const reject = (ride: RejectedRide) => {
    summary.rejected.push(ride);
    summary.rejectedCount++;
    progress.rejected++;
  };

  const streamer = createStreamer<number>({
    baseUrl: options.baseUrl,
    apiKey: options.apiKey,
    timeZone: options.timeZone,
    window: options.window,
    onRetry: options.onRetry,
    onAck(ack, frame) {
      summary.accepted += ack.accepted;
      ackedJobs.push(ack.job_id);
      progress.acked++;
      for (const ride of ack.rejected) reject({ ride: frame.tag, id: ride.id, reasons: ride.errors.map((e) => (e.path ? `${e.path} ${e.message}` : e.message)) });
      show();
    },
    onRefused(refusal, frame) {
      const rejected = refusal.error.rejected;
      if (rejected) {
        for (const ride of rejected) reject({ ride: frame.tag, id: ride.id, reasons: ride.errors.map((e) => (e.path ? `${e.path} ${e.message}` : e.message)) });
      } else {
        summary.refused.push({ firstRide: frame.tag, rides: frame.rides.length, status: refusal.error.status ?? 0, detail: refusal.error.detail ?? "" });
      }
      show();
    },
    onJob(job) {
      lastStatusAt = Date.now();
      statuses.set(job.job_id, job);
      if (job.status === "done") progress.stored += job.stored;
      show();
    },
  });

  const read = rideReader();
  let ride = 0;
  let lineNumber = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    lineNumber++;
    const next = read(line, ride + 1);
    if (next === undefined) continue;
    ride++;
    summary.total++;
    if ("reasons" in next) {
      reject({ ride, id: null, reasons: next.reasons.map((reason) => `line ${lineNumber}: ${reason}`) });
      continue;
    }
    await streamer.push({ rides: [next.input], tag: ride });
    summary.batches++;
    progress.sent++;
    show();
  }
  await streamer.finish();

  // Statuses come on the stream while they keep coming; one missed (a reconnect) is asked for.
  const deadline = Date.now() + options.waitMs;
  while (options.waitMs > 0 && statuses.size < ackedJobs.length && Date.now() < deadline && Date.now() - lastStatusAt < STATUS_SILENCE_MS) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  streamer.close();
  const missing = ackedJobs.filter((id) => !statuses.has(id));
  const asked = options.waitMs > 0 ? await client.waitForJobs(missing, Math.max(0, deadline - Date.now())) : await Promise.all(missing.map(client.getJob));
  for (const job of asked) {
    statuses.set(job.job_id, job);
    if (job.status === "done") progress.stored += job.stored;
  }
  show(true);
  summary.rejected.sort((a, b) => a.ride - b.ride);
  summary.jobs = ackedJobs.sort((a, b) => a - b).map((id) => statuses.get(id)!);
  return summary;
}

/** The file, or standard input for "-". */
export const openInput = (path: string): Readable => (path === "-" ? process.stdin : createReadStream(path, "utf8"));
