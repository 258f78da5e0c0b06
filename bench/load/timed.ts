import http from "node:http";
import { bodySource, type Format, MEDIA_TYPE } from "../generate/rides.ts";

/**
 * A load generator that keeps each request's send and ack times, so the bench can tell
 * when every acknowledged ride became readable. Either paced (phases of a fixed request
 * rate, sent on schedule whether or not answers keep up) or a fixed number of requests
 * over a few connections as fast as they are answered.
 */
export type TimedInput = {
  url: string;
  format: Format;
  ridesPerRequest: number;
  firstId: number;
  seed: number;
  /** How many different generated batches the bodies cycle through (default 16). */
  distinct?: number;
  /** Paced: requests per second for so many seconds, one phase after the other. */
  phases?: { rate: number; seconds: number }[];
  /** Unpaced: this many requests over `connections` connections. */
  requests?: number;
  connections: number;
};
/** [first ride id, rides, phase, sent at, acked at (epoch ms), HTTP status (0: no answer)] */
export type TimedRequest = [number, number, number, number, number, number];
export type TimedResult = { phaseEnds: number[]; requests: TimedRequest[]; errors: string[] };

const input: TimedInput = JSON.parse(process.argv[2]);
const bodyOf = bodySource(input);
const agent = new http.Agent({ keepAlive: true, maxSockets: input.connections });
const target = new URL(`${input.url}/v1/rides`);
const now = () => performance.timeOrigin + performance.now();
const requests: TimedRequest[] = [];

const errors: string[] = [];

function send(index: number, phase: number): Promise<void> {
  const firstId = input.firstId + index * input.ridesPerRequest;
  const body = bodyOf(index);
  const record: TimedRequest = [firstId, input.ridesPerRequest, phase, now(), 0, 0];
  requests.push(record);
  return post(body, record, true);
}

function post(body: string, record: TimedRequest, mayRetry: boolean): Promise<void> {
  return new Promise((resolve) => {
    const request = http.request(
      target,
      { method: "POST", agent, headers: { "content-type": MEDIA_TYPE[input.format], "content-length": Buffer.byteLength(body) } },
      (response) => {
        response.resume();
        response.on("end", () => {
          record[4] = now();
          record[5] = response.statusCode ?? 0;
          resolve();
        });
      },
    );
    request.on("error", (error: NodeJS.ErrnoException) => {
      // A kept-alive socket the server closed as idle just as it was reused: the request
      // never reached the server, so it is sent again (Node's documented remedy).
      if (mayRetry && request.reusedSocket && error.code === "ECONNRESET") {
        resolve(post(body, record, false));
        return;
      }
      errors.push(error.code ?? error.message);
      record[4] = now();
      resolve();
    });
    request.end(body);
  });
}

const pending: Promise<void>[] = [];
const phaseEnds: number[] = [];
let index = 0;
if (input.phases) {
  for (const [phase, { rate, seconds }] of input.phases.entries()) {
    const start = now();
    const count = Math.round(rate * seconds);
    for (let i = 0; i < count; i++) {
      const wait = start + (i * 1000) / rate - now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      // Behind schedule, requests go out back to back, yielding now and then so answers are timed.
      else if (i % 16 === 0) await new Promise(setImmediate);
      pending.push(send(index++, phase));
    }
    const end = start + seconds * 1000;
    if (end > now()) await new Promise((resolve) => setTimeout(resolve, end - now()));
    phaseEnds.push(now());
  }
} else {
  const total = input.requests ?? 0;
  const worker = async () => {
    while (index < total) await send(index++, 0);
  };
  pending.push(...Array.from({ length: input.connections }, worker));
}
await Promise.all(pending);
if (!input.phases) phaseEnds.push(now());
agent.destroy();
const result: TimedResult = { phaseEnds, requests, errors };
process.stdout.write(JSON.stringify(result));
