import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { connect } from "node:net";
import { vi } from "vitest";
import WebSocket from "ws";

export type TestStream = {
  ws: WebSocket;
  /** Every message the server sent, parsed, in order. */
  messages: any[];
  acks: () => any[];
  refusals: () => any[];
  jobs: () => any[];
  send: (frame: unknown) => void;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  /** Waits until check() holds for the messages so far (bounded). */
  until: (check: (messages: any[]) => boolean, timeoutMs?: number) => Promise<void>;
};

export type Handshake = { status: number; headers: Record<string, string | string[] | undefined>; body: any };

const wsUrl = (url: string, query = "") => `${url.replace(/^http/, "ws")}/v1/rides/stream${query}`;

type ConnectOptions = { headers?: Record<string, string>; protocols?: string[]; query?: string };

/** A WebSocket to the service's stream, or the HTTP answer that refused the upgrade. */
export function connectStream(url: string, { query = "", ...options }: ConnectOptions = {}): Promise<TestStream | Handshake> {
  return connectStreamAt(wsUrl(url, query), options);
}

/** The same at any ws:// address. */
export function connectStreamAt(address: string, { headers = {}, protocols = ["rides-ingest.v1"] }: ConnectOptions = {}): Promise<TestStream | Handshake> {
  const ws = new WebSocket(address, protocols, { headers, perMessageDeflate: false });
  const messages: any[] = [];
  ws.on("message", (data: Buffer) => messages.push(JSON.parse(data.toString("utf8"))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString("utf8") })),
  );
  return new Promise((resolve, reject) => {
    ws.once("unexpected-response", (request, response) => {
      let text = "";
      response.on("data", (chunk: Buffer) => (text += chunk));
      response.on("end", () => {
        request.destroy();
        resolve({ status: response.statusCode!, headers: response.headers, body: text ? JSON.parse(text) : undefined });
      });
    });
    ws.on("error", (error) => {
      if (ws.readyState !== WebSocket.OPEN) reject(error);
    });
    ws.once("open", () =>
      resolve({
        ws,
        messages,
        acks: () => messages.filter((m) => "seq" in m && !("error" in m)),
        refusals: () => messages.filter((m) => "seq" in m && "error" in m),
        jobs: () => messages.filter((m) => !("seq" in m)),
        send: (frame) => ws.send(typeof frame === "string" || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame)),
        closed,
        until: (check, timeoutMs = 20_000) =>
          vi.waitFor(
            () => {
              if (!check(messages)) throw new Error(`still waiting; ${messages.length} messages so far`);
            },
            { timeout: timeoutMs, interval: 10 },
          ),
      }),
    );
  });
}

/** A stream that must open. */
export async function openTestStream(url: string, options: Parameters<typeof connectStream>[1] = {}): Promise<TestStream> {
  const result = await connectStream(url, options);
  if (!("ws" in result)) throw new Error(`the upgrade was refused: ${result.status} ${JSON.stringify(result.body)}`);
  return result;
}

/**
 * A stream over a bare TCP socket, for clients ws would not be: one that stops reading
 * (pause()), or writes frames as fast as the kernel takes them.
 */
export async function rawStream(url: string, headers: Record<string, string> = {}) {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  await once(socket, "connect");
  // The test destroys it with writes still queued.
  socket.on("error", () => {});
  const key = randomBytes(16).toString("base64");
  const lines = [
    "GET /v1/rides/stream HTTP/1.1",
    `Host: ${hostname}:${port}`,
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    `Sec-WebSocket-Key: ${key}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  let pending = Buffer.alloc(0);
  const messages: any[] = [];
  let upgraded = false;
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    if (!upgraded) {
      const end = pending.indexOf("\r\n\r\n");
      if (end < 0) return;
      if (!pending.subarray(0, end).toString().startsWith("HTTP/1.1 101")) throw new Error(`not upgraded: ${pending}`);
      upgraded = true;
      pending = pending.subarray(end + 4);
    }
    // Server frames are unmasked: opcode, length (7, 16 or 64 bits), payload.
    for (;;) {
      if (pending.length < 2) return;
      let length = pending[1] & 0x7f;
      let offset = 2;
      if (length === 126) [length, offset] = [pending.length >= 4 ? pending.readUInt16BE(2) : -1, 4];
      else if (length === 127) [length, offset] = [pending.length >= 10 ? Number(pending.readBigUInt64BE(2)) : -1, 10];
      if (length < 0 || pending.length < offset + length) return;
      if ((pending[0] & 0x0f) === 0x1) messages.push(JSON.parse(pending.subarray(offset, offset + length).toString()));
      pending = pending.subarray(offset + length);
    }
  });
  await vi.waitFor(() => {
    if (!upgraded) throw new Error("waiting for 101");
  });
  return {
    socket,
    messages,
    /** Writes one masked text frame (mask 0: the payload as is); false when the kernel's buffer is full. */
    send(text: string): boolean {
      const payload = Buffer.from(text);
      const head =
        payload.length < 126
          ? Buffer.from([0x81, 0x80 | payload.length])
          : payload.length < 65_536
            ? Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
            : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), Buffer.from(new BigUint64Array([BigInt(payload.length)]).buffer).reverse()]);
      return socket.write(Buffer.concat([head, Buffer.alloc(4), payload]));
    },
  };
}

/** Sends a one-ride frame per id (seq = its index) as fast as the socket takes them, until all are sent or the stream closes; returns how many went. */
export function pumpRides(stream: TestStream, ids: number[], ride: (overrides: Record<string, unknown>) => unknown): () => number {
  let next = 0;
  const pump = () => {
    while (next < ids.length && stream.ws.bufferedAmount < 64 * 1024 && stream.ws.readyState === WebSocket.OPEN) {
      stream.send({ seq: next, rides: [ride({ id: ids[next] })] });
      next++;
    }
    if (next < ids.length && stream.ws.readyState === WebSocket.OPEN) setImmediate(pump);
  };
  pump();
  return () => next;
}
