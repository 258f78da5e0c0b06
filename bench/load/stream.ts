import WebSocket from "ws";
import { bodySource } from "../generate/rides.ts";

/**
 * Streams in their own process: each opens GET /v1/rides/stream and keeps `window`
 * one-ride frames unanswered, sending the next as each answer comes, for `seconds` or
 * until `amount` frames are sent. Every frame carries a fresh ride id from firstId on.
 */
export type StreamLoadInput = { url: string; streams: number; window: number; seconds?: number; amount?: number; firstId: number; seed: number };
export type StreamLoadResult = { seconds: number; ok: number; refused: number; errors: number; latencies: number[] };

const input: StreamLoadInput = JSON.parse(process.argv[2]);
const ride = bodySource({ seed: input.seed, format: "json", ridesPerRequest: 1, firstId: input.firstId });
const url = `${input.url.replace(/^http/, "ws")}/v1/rides/stream`;
const latencies: number[] = [];
let next = 0;
let ok = 0;
let refused = 0;
let errors = 0;
let stopAt = Infinity;
const more = () => next < (input.amount ?? Infinity) && performance.now() < stopAt;

function run(): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, "rides-ingest.v1", { perMessageDeflate: false });
    // Answers come in frame order: the oldest send time is the one answered.
    const sentAt: number[] = [];
    let seq = 0;
    const send = () => {
      sentAt.push(performance.now());
      ws.send(`{"seq":${seq++},"rides":[${ride(next++)}]}`);
    };
    ws.on("open", () => {
      while (sentAt.length < input.window && more()) send();
      if (sentAt.length === 0) ws.close(1000);
    });
    ws.on("message", (data: Buffer) => {
      // Told apart by their first bytes, not parsed: the load must cost the machine little.
      const text = data.toString("latin1");
      if (!text.startsWith('{"seq"')) return;
      latencies.push(performance.now() - sentAt.shift()!);
      if (text.includes('"error":{')) refused++;
      else ok++;
      if (more()) send();
      else if (sentAt.length === 0) ws.close(1000);
    });
    ws.on("error", () => errors++);
    ws.on("close", () => resolve());
  });
}

const started = performance.now();
if (input.seconds) stopAt = started + input.seconds * 1000;
await Promise.all(Array.from({ length: input.streams }, run));
const output: StreamLoadResult = { seconds: (performance.now() - started) / 1000, ok, refused, errors, latencies };
process.stdout.write(JSON.stringify(output));
