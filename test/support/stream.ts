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
