import WebSocket from "ws";
import type { Job } from "../jobs/store.ts";
import type { Rejected } from "../rides/index.ts";
import { DEFAULT_RETRY, type ProblemBody, type RetryPolicy } from "./client.ts";

export type StreamAck = { seq: number; job_id: number; accepted: number; rejected: Rejected[] };
export type StreamRefusal = { seq: number; error: ProblemBody & { retry_after?: number } };
export type JobStatusMessage = Pick<Job, "job_id" | "status" | "accepted" | "stored" | "failed" | "error" | "finished_at">;
export type StreamClose = { code: number; reason: string };

/** The upgrade was refused with an HTTP answer (401, 403, 400, 503): the stream never opened. */
export class StreamRefused extends Error {
  readonly status: number;
  readonly problem: ProblemBody;
  constructor(status: number, problem: ProblemBody) {
    super(problem.detail ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export type StreamHandlers = {
  onAck?: (ack: StreamAck) => void;
  onRefusal?: (refusal: StreamRefusal) => void;
  onJob?: (job: JobStatusMessage) => void;
  onClose?: (close: StreamClose) => void;
};

export type OpenStreamOptions = { baseUrl: string; apiKey?: string; timeZone?: string } & StreamHandlers;

const wsUrl = (baseUrl: string, timeZone?: string) =>
  `${baseUrl.replace(/\/+$/, "").replace(/^http/, "ws")}/v1/rides/stream${timeZone ? `?tz=${encodeURIComponent(timeZone)}` : ""}`;

/** One WebSocket stream: frames out, acks, refusals and job statuses in, as typed messages. */
export function openStream(options: OpenStreamOptions): Promise<{ send: (seq: number, rides: unknown[]) => void; close: () => void; socket: WebSocket }> {
  const headers: Record<string, string> = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  const socket = new WebSocket(wsUrl(options.baseUrl, options.timeZone), "rides-ingest.v1", { headers, perMessageDeflate: false });
  let opened = false;
  return new Promise((resolve, reject) => {
    socket.once("unexpected-response", (request, response) => {
      let text = "";
      response.on("data", (chunk: Buffer) => (text += chunk));
      response.on("end", () => {
        let problem: ProblemBody = {};
        try {
          problem = JSON.parse(text);
        } catch {
          problem = { detail: text };
        }
        reject(new StreamRefused(response.statusCode ?? 0, problem));
        request.destroy();
      });
    });
    // After the open, a broken connection is told by its close.
    socket.on("error", (error) => {
      if (!opened) reject(error);
    });
    socket.once("open", () => {
      opened = true;
      resolve({
        send: (seq, rides) => socket.send(JSON.stringify({ seq, rides })),
        close: () => socket.close(1000),
        socket,
      });
    });
    socket.on("message", (data: Buffer) => {
      const message = JSON.parse(data.toString("utf8"));
      if ("seq" in message && "error" in message) options.onRefusal?.(message);
      else if ("seq" in message) options.onAck?.(message);
      else options.onJob?.(message);
    });
    socket.once("close", (code, reason) => {
      if (opened) options.onClose?.({ code, reason: reason.toString("utf8") });
    });
  });
}

/** A frame the streamer was given: its rides and the caller's tag for it (e.g. where in a file they are). */
export type Outgoing<Tag> = { rides: unknown[]; tag: Tag };

export type StreamerOptions<Tag> = {
  baseUrl: string;
  apiKey?: string;
  timeZone?: string;
  /** Frames sent and not yet answered, at most (the server reads at most STREAM_MAX_IN_FLIGHT). */
  window?: number;
  retry?: RetryPolicy;
  onAck?: (ack: StreamAck, frame: Outgoing<Tag>) => void;
  /** A frame the service would not take for a reason a resend will not change (4xx). */
  onRefused?: (refusal: StreamRefusal, frame: Outgoing<Tag>) => void;
  onJob?: (job: JobStatusMessage) => void;
  /** Told before waiting to reconnect or resend: why, and for how long. */
  onRetry?: (why: string, delayMs: number) => void;
};

const RETRYABLE = new Set([500, 503]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Streams frames over one connection at a time: what is not acknowledged when the
 * stream closes is resent on the next (ride ids make that safe: the latest send wins),
 * with back-off between attempts; a 503 refusal is resent after its retry_after.
 */
export function createStreamer<Tag>(options: StreamerOptions<Tag>) {
  const retry = options.retry ?? DEFAULT_RETRY;
  const window = options.window ?? 256;
  /** Frames not yet answered, in send order; keyed by the seq of their latest send. */
  const unanswered = new Map<number, Outgoing<Tag>>();
  const waitingToSend: Outgoing<Tag>[] = [];
  let nextSeq = 0;
  /** Frames refused with a 503, waiting out their retry_after. */
  let delayed = 0;
  let stream: Awaited<ReturnType<typeof openStream>> | undefined;
  let connecting: Promise<void> | undefined;
  let failedAttempts = 0;
  let fatal: Error | undefined;
  let wakeWaiters: (() => void)[] = [];
  const wake = () => {
    const waiters = wakeWaiters;
    wakeWaiters = [];
    for (const waiter of waiters) waiter();
  };
  const changed = () => new Promise<void>((resolve) => wakeWaiters.push(resolve));

  function sendNow(frame: Outgoing<Tag>) {
    const seq = nextSeq++;
    unanswered.set(seq, frame);
    stream!.send(seq, frame.rides);
  }

  function pump() {
    while (stream && waitingToSend.length > 0 && unanswered.size < window) sendNow(waitingToSend.shift()!);
  }

  async function connect(): Promise<void> {
    while (!stream && !fatal) {
      try {
        stream = await openStream({
          baseUrl: options.baseUrl,
          apiKey: options.apiKey,
          timeZone: options.timeZone,
          onAck(ack) {
            const frame = unanswered.get(ack.seq);
            unanswered.delete(ack.seq);
            failedAttempts = 0;
            if (frame) options.onAck?.(ack, frame);
            pump();
            wake();
          },
          onRefusal(refusal) {
            const frame = unanswered.get(refusal.seq);
            unanswered.delete(refusal.seq);
            if (!frame) return;
            if (RETRYABLE.has(refusal.error.status ?? 0)) {
              const delay = (refusal.error.retry_after ?? 1) * 1000;
              options.onRetry?.(`frame refused: ${refusal.error.status} ${refusal.error.detail}`, delay);
              delayed++;
              setTimeout(() => {
                delayed--;
                waitingToSend.unshift(frame);
                if (!stream) void reconnect("resending refused frames");
                pump();
              }, delay);
            } else {
              options.onRefused?.(refusal, frame);
            }
            pump();
            wake();
          },
          onJob: options.onJob,
          onClose(close) {
            stream = undefined;
            // Everything not answered goes again, first, in its order.
            waitingToSend.unshift(...unanswered.values());
            unanswered.clear();
            if (close.code !== 1000 || waitingToSend.length > 0) void reconnect(`stream closed: ${close.code} ${close.reason}`);
            wake();
          },
        });
        failedAttempts = 0;
        pump();
        wake();
      } catch (error) {
        if (error instanceof StreamRefused && !RETRYABLE.has(error.status)) {
          fatal = error;
          wake();
          return;
        }
        failedAttempts++;
        if (failedAttempts >= retry.attempts) {
          fatal = error as Error;
          wake();
          return;
        }
        const delay = Math.random() * Math.min(retry.baseDelayMs * 2 ** failedAttempts, retry.maxDelayMs);
        options.onRetry?.(error instanceof StreamRefused ? `service answered ${error.status}` : `service unreachable (${(error as Error).message})`, delay);
        await sleep(delay);
      }
    }
  }

  async function reconnect(why: string) {
    if (connecting) return connecting;
    const delay = Math.random() * Math.min(retry.baseDelayMs * 2 ** failedAttempts, retry.maxDelayMs);
    failedAttempts++;
    options.onRetry?.(why, delay);
    connecting = sleep(delay).then(connect).finally(() => (connecting = undefined));
    return connecting;
  }

  return {
    /** Queues a frame; resolves once the window has room for more (back-pressure for the caller). */
    async push(frame: Outgoing<Tag>): Promise<void> {
      if (fatal) throw fatal;
      waitingToSend.push(frame);
      if (!stream) connecting ??= connect().finally(() => (connecting = undefined));
      pump();
      while (!fatal && waitingToSend.length + unanswered.size >= window * 2) await changed();
      if (fatal) throw fatal;
    },
    /** Resolves when every frame pushed is answered; then closes the stream. */
    async finish(): Promise<void> {
      while (!fatal && (waitingToSend.length > 0 || unanswered.size > 0 || delayed > 0)) await changed();
      if (fatal) throw fatal;
    },
    close() {
      stream?.close();
    },
  };
}

export type Streamer<Tag> = ReturnType<typeof createStreamer<Tag>>;
