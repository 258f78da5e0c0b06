import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import { WebSocket, WebSocketServer } from "ws";
import { type ApiKey, keyScopes } from "../auth/api-keys.ts";
import { isTimeZone, type StreamLimits } from "../config.ts";
import { problem as problemDoc } from "../docs/openapi.ts";
import type { MemoryBudget, Release } from "../http/memory-budget.ts";
import type { RidesWindow } from "../retention/rides-window.ts";
import { knownProblem, Problem, problemBody, RETRY_AFTER_SECONDS, UNEXPECTED } from "../http/problem.ts";
import type { Job } from "../jobs/store.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { checkCandidates, type Ride, TooManyRides, UnreadableBody } from "../rides/index.ts";
import type { Candidate } from "../rides/formats/index.ts";
import { parseJson } from "../rides/formats/json.ts";
import { closingQuote, lostValue, MAX_JSON_DEPTH } from "../rides/formats/json-text.ts";
import type { Backlog } from "./backlog.ts";
import type { JobEvents } from "./job-events.ts";
import { MAX_JOBS_PER_STATEMENT, MAX_RIDES_PER_STATEMENT, type StagedJob, type Stager } from "./stager.ts";

export const STREAM_PATH = "/v1/rides/stream";
/** The subprotocol a stream speaks; the server answers with it whenever the client offers it. */
export const STREAM_PROTOCOL = "rides-ingest.v1";
/** Browsers cannot set headers on a WebSocket: they offer this + base64url(key) as a subprotocol instead. */
export const KEY_PROTOCOL_PREFIX = "rides-ingest.key.";

/** Close codes (RFC 6455 §7.4.1) and the reasons sent with them. */
export const CLOSE = {
  idle: 1000,
  shuttingDown: 1001,
  binary: 1003,
  unreadable: 1007,
  badSeq: 1008,
  tooLarge: 1009,
  overBudget: 1013,
} as const;

/**
 * ws cannot skip a payload, only read it whole or close the stream: a frame up to this
 * many times BODY_LIMIT_BYTES is read (held in memory at most once per stream) so that it
 * gets its 413 error frame and the stream goes on; a bigger one closes the stream with 1009
 * as its header arrives, before it is buffered.
 */
export const FRAME_HARD_CAP_FACTOR = 2;

export type StreamOptions = {
  stager: Stager;
  backlog: Backlog;
  memoryBudget: MemoryBudget;
  ridesWindow: RidesWindow;
  events: JobEvents;
  apiKeys: ApiKey[];
  timeZone: string;
  bodyLimitBytes: number;
  maxRidesPerRequest: number;
  limits: StreamLimits;
  draining: () => boolean;
  metrics: Metrics;
  log: Logger;
};

/** A frame's place in its stream's answer order; answer is set once it is known. */
type Pending = { seq: number; readAt: number; answer?: Answer };
type Answer = { text: string; outcome: string; jobId?: number; rides: { accepted: number; rejected: number; refused: number } };

type Stream = {
  ws: WebSocket;
  /** The upgraded socket ws writes to: corked while a burst of messages is sent, so they go in one write. */
  socket: Duplex;
  corked: boolean;
  zone: string;
  requestId: string;
  /** Frames read whose answers are not yet sent, in the order they came. */
  queue: Pending[];
  /** Frames read whose answers are not yet written to the socket: the flow-control count. */
  inFlight: number;
  lastSeq: number;
  /**
   * Bytes read from the socket that are not yet a whole frame, held in the memory budget
   * like a chunked POST body as it arrives; a whole frame then holds its own bytes.
   */
  arriving: number;
  arrivingHeld?: Release;
  lastFrameAt: number;
  lastPingAt: number;
  awaitingPong: boolean;
  /** Acknowledged jobs not yet done, failed or lost. */
  openJobs: Set<number>;
  /** Frames read and checked, waiting to be staged after the ones before them. */
  toStage: { rides: Ride[]; rejected: string | null; resolve: (job: StagedJob) => void; reject: (error: unknown) => void }[];
  staging: boolean;
  /** Once set, no more frames are taken; the stream closes with it after the answers owed. */
  closing?: { code: number; reason: string };
};

const REQUEST_ID = /^[\w\-=]{1,255}$/;
/** How long a refused handshake's socket may stay open for the client to read the answer. */
const REFUSED_SOCKET_MS = 5_000;
/** How long shutdown waits for clients to answer the close before dropping them. */
const CLOSE_WAIT_MS = 5_000;

class ProtocolError extends Error {
  readonly code: number;
  constructor(code: number, reason: string) {
    super(reason);
    this.code = code;
  }
}

/**
 * Streaming intake over WebSocket (`ws`): each text frame {seq, rides} goes through the
 * same read → validate → backlog → group commit as POST /v1/rides, and its ack is sent
 * after its commit, in frame order. See docs/streaming.md for the protocol.
 */
export function createStreamIntake(options: StreamOptions) {
  const { stager, backlog, memoryBudget, ridesWindow, events, timeZone, bodyLimitBytes, maxRidesPerRequest, limits, metrics, log } = options;
  const scopesOf = keyScopes(options.apiKeys);
  const streams = new Set<Stream>();
  let lastClosed: (() => void) | undefined;
  // ws reads maxPayload as a 32-bit integer.
  const hardCapBytes = Math.min(FRAME_HARD_CAP_FACTOR * bodyLimitBytes, 2 ** 31 - 1);
  const overBudgetReason = `frames and bodies fill INTAKE_MEMORY_BUDGET_BYTES (${memoryBudget.limitBytes}): resend what was not acknowledged later`;
  const tooLargeReason = `a frame over ${hardCapBytes} bytes is not read; a frame holds at most BODY_LIMIT_BYTES (${bodyLimitBytes})`;
  /** ws closes a frame over maxPayload itself, with 1009 and no reason: this gives it one. */
  class StreamSocket extends WebSocket {
    override close(code?: number, reason?: string | Buffer) {
      super.close(code, code === CLOSE.tooLarge && reason === undefined ? tooLargeReason : reason);
    }
  }
  const wss = new WebSocketServer({
    noServer: true,
    WebSocket: StreamSocket,
    maxPayload: hardCapBytes,
    perMessageDeflate: false,
    clientTracking: false,
    // Checked in takeFrame instead, so the frames before a bad one are still answered.
    skipUTF8Validation: true,
    handleProtocols: (offered) => (offered.has(STREAM_PROTOCOL) ? STREAM_PROTOCOL : false),
  });
  const sweepMs = Math.max(50, Math.min(limits.pingIntervalMs, limits.idleTimeoutMs) / 2);
  const sweeper = setInterval(sweep, sweepMs).unref();

  /** Authorises the upgrade request; refuses with the problem (401, 403, 400, 503) before upgrading. */
  function admit(request: IncomingMessage, url: URL): string {
    if (url.pathname !== STREAM_PATH) throw new Problem(404, `no WebSocket at ${url.pathname}; streams are at ${STREAM_PATH}`);
    if (options.draining()) {
      throw new Problem(503, "the service is shutting down; connect again", {}, { "retry-after": String(RETRY_AFTER_SECONDS) });
    }
    if (options.apiKeys.length > 0) {
      const secret = presentedKey(request);
      const scopes = secret === undefined ? undefined : scopesOf(secret);
      if (!scopes) {
        throw new Problem(
          401,
          `send a valid API key as Authorization: Bearer <key>, or (browsers) offer the subprotocols ${STREAM_PROTOCOL} and ${KEY_PROTOCOL_PREFIX}<base64url of the key>`,
          {},
          { "www-authenticate": 'Bearer realm="rides-ingest"' },
        );
      }
      if (!scopes.includes("ingest")) throw new Problem(403, `this API key lacks the ingest scope needed for GET ${STREAM_PATH}`);
    }
    for (const name of url.searchParams.keys()) {
      if (name !== "tz") throw new Problem(400, `query parameter "${name}": is not a known parameter (tz)`);
    }
    const zone = url.searchParams.get("tz");
    if (zone !== null && !isTimeZone(zone)) throw new Problem(400, `query parameter "tz": "${zone}" is not an IANA time zone such as Asia/Kolkata`);
    if (streams.size >= limits.maxOpen) {
      throw new Problem(503, `${streams.size} streams are open, the most this process takes (STREAM_MAX_OPEN); retry later`, {}, {
        "retry-after": String(RETRY_AFTER_SECONDS),
      });
    }
    return zone ?? timeZone;
  }

  /** The server's 'upgrade' listener. */
  function upgrade(request: IncomingMessage, socket: Duplex, head: Buffer) {
    socket.on("error", () => {});
    const header = request.headers["x-request-id"];
    const requestId = typeof header === "string" && REQUEST_ID.test(header) ? header : randomUUID();
    const url = new URL(request.url ?? "/", "http://stream");
    let zone: string;
    try {
      zone = admit(request, url);
    } catch (error) {
      refuse(socket, error as Problem, url.pathname, requestId);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => open(ws, socket, zone, requestId));
  }

  function open(ws: WebSocket, socket: Duplex, zone: string, requestId: string) {
    const now = Date.now();
    const stream: Stream = {
      ws, socket, corked: false, zone, requestId, queue: [], inFlight: 0, lastSeq: -1, arriving: 0, lastFrameAt: now, lastPingAt: now,
      awaitingPong: false, openJobs: new Set(), toStage: [], staging: false,
    };
    streams.add(stream);
    metrics.stream.opened();
    log.info({ request_id: requestId }, "stream opened");
    // Before ws's own listener, so a chunk is held before the frames in it are taken.
    const onData = (chunk: Buffer) => holdArriving(stream, chunk.length);
    socket.prependListener("data", onData);
    ws.on("message", (data: Buffer, isBinary) => {
      holdArriving(stream, -wireBytes(data.length));
      takeFrame(stream, data, isBinary);
    });
    ws.on("ping", (data: Buffer) => holdArriving(stream, -wireBytes(data.length)));
    ws.on("pong", (data: Buffer) => {
      holdArriving(stream, -wireBytes(data.length));
      stream.awaitingPong = false;
    });
    ws.on("error", (error) => {
      // ws reads no more (a frame past the hard cap, a broken frame): nothing arriving is held.
      socket.off("data", onData);
      holdArriving(stream, -stream.arriving);
      log.info({ request_id: requestId, error: error.message }, "stream error");
    });
    ws.once("close", (code) => {
      streams.delete(stream);
      stream.arrivingHeld?.();
      for (const jobId of stream.openJobs) events.unwatch(jobId);
      metrics.stream.closed(code);
      log.info({ request_id: requestId, code }, "stream closed");
      if (streams.size === 0) lastClosed?.();
    });
    // Opened as shutdown began (the upgrade was already under way).
    if (options.draining()) closeAfterAnswers(stream, CLOSE.shuttingDown, SHUTTING_DOWN);
  }

  /**
   * Moves the bytes held for what is arriving by `change`. What does not fit in the
   * budget is refused as a POST body is (503, the connection closed, the body unread):
   * the stream takes no more frames and closes with 1013 once it has answered the ones it took.
   */
  function holdArriving(stream: Stream, change: number) {
    stream.arriving = Math.max(0, stream.arriving + change);
    stream.arrivingHeld?.();
    stream.arrivingHeld = stream.arriving === 0 ? undefined : memoryBudget.tryReserve(stream.arriving);
    if (stream.arriving > 0 && !stream.arrivingHeld) closeAfterAnswers(stream, CLOSE.overBudget, overBudgetReason);
  }

  /**
   * Everything one frame goes through, in one place: protocol checks, read, validate,
   * backlog, stage. Its answer takes the frame's place in the stream's order.
   */
  function takeFrame(stream: Stream, data: Buffer, isBinary: boolean) {
    if (stream.closing) return;
    const readAt = performance.now();
    stream.lastFrameAt = Date.now();
    let frame: Frame;
    try {
      if (isBinary) throw new ProtocolError(CLOSE.binary, "binary frames are not taken: send {seq, rides} as a text frame");
      frame = readFrame(decodeText(data), stream.lastSeq, data.length > bodyLimitBytes);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      closeAfterAnswers(stream, error.code, error.message);
      return;
    }
    stream.lastSeq = frame.seq;
    const pending: Pending = { seq: frame.seq, readAt };
    stream.queue.push(pending);
    stream.inFlight++;
    // Past the bound the socket is not read: TCP pushes back on the sender.
    if (stream.inFlight >= limits.maxInFlight) stream.ws.pause();
    // Its bytes were held as they arrived and given back just before, so they fit. A frame too large is dropped at once.
    const held = frame.tooLarge ? undefined : memoryBudget.tryReserve(data.length)!;
    void answer(stream, frame, held).then((result) => {
      pending.answer = result;
      sendAnswers(stream);
    });
  }

  /** The frame's bytes stay `held` in the memory budget shared with POST bodies until its rides are staged or refused. */
  async function answer(stream: Stream, frame: Frame, held: Release | undefined): Promise<Answer> {
    const { seq, rides } = frame;
    const offered = rides?.length ?? 0;
    let rejected: ReturnType<typeof checkCandidates>["rejected"] = [];
    try {
      if (frame.tooLarge) {
        throw new Problem(413, `the frame is larger than ${bodyLimitBytes} bytes (BODY_LIMIT_BYTES); split its rides over more frames`);
      }
      if (frame.unknown) throw new Problem(400, `frame field "${frame.unknown}": is not a known field (seq, rides)`);
      if (!rides) throw new Problem(400, "frame field \"rides\": must be an array of rides");
      const keptFrom = await ridesWindow();
      let read: ReturnType<typeof checkCandidates>;
      try {
        read = checkCandidates(rides, stream.zone, maxRidesPerRequest, keptFrom);
      } catch (error) {
        if (error instanceof UnreadableBody) throw new Problem(400, error.message);
        if (error instanceof TooManyRides) throw new Problem(413, error.message);
        throw error;
      }
      const { accepted } = read;
      rejected = read.rejected;
      metrics.ridesRead(accepted.length, rejected.length);
      if (accepted.length === 0) {
        throw new Problem(422, `none of the ${rejected.length} rides is valid; nothing was accepted`, { accepted: 0, rejected });
      }
      await backlog.admit(accepted.length);
      const { jobId } = await stageInOrder(stream, accepted, read.quarantine.json);
      metrics.quarantined(read.quarantine);
      return {
        text: JSON.stringify({ seq, job_id: jobId, accepted: accepted.length, rejected }),
        outcome: "acked",
        jobId,
        rides: { accepted: accepted.length, rejected: rejected.length, refused: 0 },
      };
    } catch (error) {
      let problem = knownProblem(error as Error);
      if (!problem) {
        log.error({ request_id: stream.requestId, error: (error as Error).message }, "unhandled error in a stream frame");
        problem = new Problem(500, UNEXPECTED);
      }
      const retryAfter = problem.headers["retry-after"];
      const body = { ...problemBody(problem, STREAM_PATH, stream.requestId), ...(retryAfter ? { retry_after: Number(retryAfter) } : {}) };
      // A 422 rejected every ride; any other refusal took none of them.
      const refused = problem.status === 422 ? 0 : offered;
      return { text: JSON.stringify({ seq, error: body }), outcome: String(problem.status), rides: { accepted: 0, rejected: rejected.length, refused } };
    } finally {
      held?.();
    }
  }

  /**
   * The stager runs two statements at once, and either may draw its job ids first; a
   * stream's frames keep their order in job ids ("the latest send wins" goes by them) by
   * being staged as one unit, the next unit once the previous one is committed. Frames
   * that arrive meanwhile, other streams' frames and POSTs fill the group commits.
   */
  function stageInOrder(stream: Stream, rides: Ride[], rejected: string | null): Promise<StagedJob> {
    return new Promise((resolve, reject) => {
      stream.toStage.push({ rides, rejected, resolve, reject });
      if (!stream.staging) void stageWaiting(stream);
    });
  }

  async function stageWaiting(stream: Stream) {
    stream.staging = true;
    while (stream.toStage.length > 0) {
      let take = 0;
      let rides = 0;
      while (
        take < stream.toStage.length &&
        take < MAX_JOBS_PER_STATEMENT &&
        (take === 0 || rides + stream.toStage[take].rides.length <= MAX_RIDES_PER_STATEMENT)
      ) {
        rides += stream.toStage[take].rides.length;
        take++;
      }
      const unit = stream.toStage.splice(0, take);
      try {
        const staged = await stager.stageInOrder(unit.map((frame) => frame.rides), unit.map((frame) => frame.rejected));
        unit.forEach((frame, i) => frame.resolve(staged[i]));
      } catch (error) {
        for (const frame of unit) frame.reject(error);
      }
    }
    stream.staging = false;
  }

  /** Sends the answers at the head of the queue that are known, in frame order. */
  function sendAnswers(stream: Stream) {
    const { ws, queue } = stream;
    while (queue.length > 0 && queue[0].answer) {
      const { answer, readAt } = queue.shift()!;
      metrics.stream.answered(answer!.outcome, answer!.rides, answer!.jobId === undefined ? undefined : (performance.now() - readAt) / 1000);
      const written = () => {
        stream.inFlight--;
        if (ws.isPaused && !stream.closing && stream.inFlight < limits.maxInFlight) ws.resume();
      };
      if (ws.readyState !== ws.OPEN) {
        written();
        continue;
      }
      cork(stream);
      ws.send(answer!.text, written);
      const jobId = answer!.jobId;
      if (jobId !== undefined) {
        stream.openJobs.add(jobId);
        events.watch(jobId, (job) => sendStatus(stream, job));
      }
    }
    if (queue.length === 0 && stream.closing && ws.readyState === ws.OPEN) {
      // Read again (frames are dropped now) so the client's answer to the close is heard.
      ws.resume();
      ws.close(stream.closing.code, stream.closing.reason);
    }
  }

  function sendStatus(stream: Stream, job: Job) {
    stream.openJobs.delete(job.job_id);
    if (stream.ws.readyState !== stream.ws.OPEN) return;
    const { job_id, status, accepted, stored, failed, error, finished_at } = job;
    cork(stream);
    stream.ws.send(JSON.stringify({ job_id, status, accepted, stored, failed, error, finished_at }));
  }

  /** Acks of one commit and statuses of one move come in bursts: one write (syscall) for each burst. */
  function cork(stream: Stream) {
    if (stream.corked) return;
    stream.corked = true;
    stream.socket.cork();
    process.nextTick(() => {
      stream.corked = false;
      stream.socket.uncork();
    });
  }

  /** Takes no more frames; the answers owed are still sent, then the close. */
  function closeAfterAnswers(stream: Stream, code: number, reason: string) {
    stream.closing ??= { code, reason: fitReason(reason) };
    stream.ws.pause();
    sendAnswers(stream);
  }

  /** Keep-alive and idle timeout, for every stream on one timer. */
  function sweep() {
    const now = Date.now();
    for (const stream of streams) {
      if (stream.awaitingPong && now - stream.lastPingAt >= limits.pingIntervalMs) {
        // No pong for a whole interval: the peer is gone; nothing is owed to it any more.
        stream.ws.terminate();
        continue;
      }
      if (now - stream.lastPingAt >= limits.pingIntervalMs) {
        stream.awaitingPong = true;
        stream.lastPingAt = now;
        stream.ws.ping();
      }
      const idle = stream.queue.length === 0 && stream.openJobs.size === 0 && now - stream.lastFrameAt >= limits.idleTimeoutMs;
      if (idle && !stream.closing) closeAfterAnswers(stream, CLOSE.idle, `no frame for ${limits.idleTimeoutMs} ms (STREAM_IDLE_TIMEOUT_MS)`);
    }
  }

  return {
    upgrade,
    openStreams: () => streams.size,
    /** Shutdown: every stream stops taking frames, answers what it took, closes with 1001. */
    async close() {
      const allClosed = new Promise<void>((resolve) => (lastClosed = resolve));
      for (const stream of streams) closeAfterAnswers(stream, CLOSE.shuttingDown, SHUTTING_DOWN);
      // A client that does not answer the close (or read its acks) is dropped once its answers are out.
      const timer = setInterval(() => {
        for (const stream of streams) if (stream.queue.length === 0) stream.ws.terminate();
      }, CLOSE_WAIT_MS);
      if (streams.size > 0) await allClosed;
      clearInterval(timer);
      clearInterval(sweeper);
      wss.close();
    },
  };
}

export type StreamIntake = ReturnType<typeof createStreamIntake>;

/** A close reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5; ws throws past it): a longer one is cut, on a character. */
const MAX_REASON_BYTES = 123;

function fitReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_REASON_BYTES) return reason;
  let cut = "";
  for (const ch of reason) {
    if (Buffer.byteLength(cut + ch + "…") > MAX_REASON_BYTES) break;
    cut += ch;
  }
  return `${cut}…`;
}

const SHUTTING_DOWN = "the service is shutting down; resend what was not acknowledged on a new connection";

/**
 * Bytes of a client's frame on the wire: the payload, its header (2 bytes, the longer
 * length if any) and the 4-byte mask. A message sent in fragments has a header per
 * fragment: the others stay counted until the stream closes, an overestimate of a few bytes.
 */
const wireBytes = (payload: number) => payload + 6 + (payload > 65_535 ? 8 : payload > 125 ? 2 : 0);

/** The key from Authorization: Bearer, or from the browser's key subprotocol. */
function presentedKey(request: IncomingMessage): string | undefined {
  const bearer = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? "");
  if (bearer) return bearer[1];
  const offered = (request.headers["sec-websocket-protocol"] ?? "").split(",").map((protocol) => protocol.trim());
  const keyProtocol = offered.find((protocol) => protocol.startsWith(KEY_PROTOCOL_PREFIX));
  return keyProtocol === undefined ? undefined : Buffer.from(keyProtocol.slice(KEY_PROTOCOL_PREFIX.length), "base64url").toString("utf8");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeText(data: Buffer): string {
  try {
    return utf8.decode(data);
  } catch {
    throw new ProtocolError(CLOSE.unreadable, "a text frame is not valid UTF-8");
  }
}

/**
 * A frame as read: its seq, and its rides read by the JSON reader of POST /v1/rides (so
 * a key sent twice or a number that would lose its value rejects the ride with its
 * reason, as in a body), or what keeps it from being taken (an unknown field, rides that
 * are not an array, a frame over BODY_LIMIT_BYTES, whose rides are not read at all).
 */
type Frame = { seq: number; rides?: Candidate[]; unknown?: string; tooLarge?: boolean };

const NOT_JSON = "a frame is not valid JSON: send {seq, rides} as JSON text";
const TOO_DEEP = `a frame is not {seq, rides}: it nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep`;

/** A text frame → its seq and rides; a frame that breaks the protocol closes the stream. */
function readFrame(text: string, lastSeq: number, tooLarge: boolean): Frame {
  const members = frameMembers(text);
  const seqText = members.get("seq");
  if (seqText === undefined) throw new ProtocolError(CLOSE.badSeq, "a frame has no seq: every frame needs an increasing whole number seq");
  let seq: unknown;
  try {
    seq = JSON.parse(seqText);
  } catch {
    throw new ProtocolError(CLOSE.unreadable, NOT_JSON);
  }
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
    throw new ProtocolError(CLOSE.badSeq, `seq must be a whole number of at least 0, got ${JSON.stringify(seq).slice(0, 20)}`);
  }
  const lost = lostValue(seqText);
  if (lost) throw new ProtocolError(CLOSE.badSeq, `seq ${lost}: send it as a whole number`);
  if (seq <= lastSeq) throw new ProtocolError(CLOSE.badSeq, `seq ${seq} is not greater than the previous frame's ${lastSeq}`);
  if (tooLarge) return { seq, tooLarge };
  const unknown = [...members.keys()].find((key) => key !== "seq" && key !== "rides");
  if (unknown !== undefined) return { seq, unknown };
  const ridesText = members.get("rides");
  if (ridesText?.charCodeAt(0) !== 0x5b) return { seq };
  try {
    return { seq, rides: parseJson(ridesText) };
  } catch (error) {
    if (error instanceof UnreadableBody) throw new ProtocolError(CLOSE.unreadable, NOT_JSON);
    throw error;
  }
}

/**
 * The members of a frame's object, each key with its value's text, found without
 * parsing the values: the rides are then read as a POST body is, and a frame too large
 * to be taken still tells its seq. Checks the grammar around the members, a key given
 * twice and the nesting depth; each value's own grammar is checked when it is parsed.
 */
function frameMembers(text: string): Map<string, string> {
  let at = skipSpace(text, 0);
  if (text.charCodeAt(at) !== 0x7b) throw new ProtocolError(CLOSE.unreadable, "a frame must be a JSON object {seq, rides}");
  const members = new Map<string, string>();
  at = skipSpace(text, at + 1);
  if (text.charCodeAt(at) === 0x7d) at++;
  else {
    for (;;) {
      if (text.charCodeAt(at) !== 0x22) throw new ProtocolError(CLOSE.unreadable, NOT_JSON);
      const keyEnd = closingQuote(text, at);
      if (keyEnd >= text.length) throw new ProtocolError(CLOSE.unreadable, NOT_JSON);
      const key = memberKey(text.slice(at + 1, keyEnd));
      at = skipSpace(text, keyEnd + 1);
      if (text.charCodeAt(at) !== 0x3a) throw new ProtocolError(CLOSE.unreadable, NOT_JSON);
      const start = skipSpace(text, at + 1);
      const end = valueEnd(text, start);
      if (members.has(key)) throw new ProtocolError(CLOSE.unreadable, `a frame gives its field "${key}" twice: send seq and rides once each`);
      members.set(key, text.slice(start, end));
      at = skipSpace(text, end);
      const next = text.charCodeAt(at);
      if (next === 0x7d) {
        at++;
        break;
      }
      if (next !== 0x2c) throw new ProtocolError(CLOSE.unreadable, NOT_JSON);
      at = skipSpace(text, at + 1);
    }
  }
  if (skipSpace(text, at) !== text.length) throw new ProtocolError(CLOSE.unreadable, NOT_JSON);
  return members;
}

/** Where the value starting at `at` ends: after its closing quote or bracket, or where a number or literal stops. */
function valueEnd(text: string, at: number): number {
  const first = text.charCodeAt(at);
  if (first === 0x22) {
    const end = closingQuote(text, at);
    if (end >= text.length) throw new ProtocolError(CLOSE.unreadable, NOT_JSON);
    return end + 1;
  }
  if (first === 0x7b || first === 0x5b) {
    // The frame's object is the first level.
    let depth = 1;
    for (let i = at; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 0x22) i = closingQuote(text, i);
      else if (ch === 0x7b || ch === 0x5b) {
        if (++depth > MAX_JSON_DEPTH) throw new ProtocolError(CLOSE.unreadable, TOO_DEEP);
      } else if ((ch === 0x7d || ch === 0x5d) && --depth === 1) return i + 1;
    }
    throw new ProtocolError(CLOSE.unreadable, NOT_JSON);
  }
  let end = at;
  while (end < text.length && !isDelimiter(text.charCodeAt(end))) end++;
  if (end === at) throw new ProtocolError(CLOSE.unreadable, NOT_JSON);
  return end;
}

const isSpace = (ch: number) => ch === 0x20 || ch === 0x0a || ch === 0x0d || ch === 0x09;
const isDelimiter = (ch: number) => isSpace(ch) || ch === 0x2c || ch === 0x7d || ch === 0x5d;

function skipSpace(text: string, at: number): number {
  while (at < text.length && isSpace(text.charCodeAt(at))) at++;
  return at;
}

function memberKey(raw: string): string {
  if (!raw.includes("\\")) return raw;
  try {
    return JSON.parse(`"${raw}"`);
  } catch {
    throw new ProtocolError(CLOSE.unreadable, NOT_JSON);
  }
}

/** Answers a refused upgrade as plain HTTP, problem+json, and lets the client read it before the socket goes. */
function refuse(socket: Duplex, problem: Problem, instance: string, requestId: string) {
  const body = JSON.stringify(problemBody(problem, instance, requestId));
  const headers = {
    "content-type": "application/problem+json",
    "content-length": String(Buffer.byteLength(body)),
    "x-request-id": requestId,
    connection: "close",
    ...problem.headers,
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join("\r\n");
  socket.end(`HTTP/1.1 ${problem.status} ${problemBody(problem, instance, requestId).title}\r\n${head}\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), REFUSED_SOCKET_MS).unref();
}

/** GET /v1/rides/stream without an upgrade: where the stream is and how to open it. */
export function streamRoutes() {
  return new Hono().get(
    STREAM_PATH,
    describeRoute({
      tags: ["rides"],
      summary: "Stream rides over a WebSocket",
      description:
        "Upgrade to a WebSocket (RFC 6455) with an ingest key; send text frames {seq, rides}, get one ack or error frame per frame in order, each ack after its commit, then job status messages. See docs/streaming.md.",
      responses: {
        101: { description: "Switching Protocols: the stream is open" },
        400: problemDoc("Bad tz or unknown query parameter"),
        401: problemDoc("No valid API key"),
        403: problemDoc("The key lacks the ingest scope"),
        426: problemDoc("Not a WebSocket upgrade"),
        503: problemDoc("Shutting down, or STREAM_MAX_OPEN streams are open"),
      },
    }),
    () => {
      throw new Problem(426, `${STREAM_PATH} is a WebSocket: send the request as an upgrade (Connection: Upgrade, Upgrade: websocket)`, {}, {
        upgrade: "websocket",
      });
    },
  );
}
