import { maxHeaderSize } from "node:http";
import type { Duplex } from "node:stream";

export type RequestTimeouts = { headersTimeoutMs: number; bodyTimeoutMs: number };

type ParserError = Error & { code?: string; reason?: string };
/** The response Node has begun for a request on this socket, if any (an internal field, read only). */
type ServingSocket = Duplex & { _httpMessage?: { headersSent: boolean } | null };

const TITLES: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large", 431: "Request Header Fields Too Large" };

/**
 * The server's clientError hook: what Node's HTTP parser refuses before the app sees a
 * request (oversized headers, a request that did not arrive in time, malformed framing)
 * is answered with a problem+json of its own instead of Node's empty 4xx, then the
 * connection is closed, as Node would.
 */
export function answerClientError({ headersTimeoutMs, bodyTimeoutMs }: RequestTimeouts) {
  return (error: ParserError, socket: ServingSocket) => {
    // A reset or a response already under way: nothing can be said on this socket.
    if (!socket.writable || socket._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const [status, detail] = describe(error, socket._httpMessage ? "body" : "headers", { headersTimeoutMs, bodyTimeoutMs });
    const body = JSON.stringify({ type: "about:blank", title: TITLES[status], status, detail });
    socket.end(
      `HTTP/1.1 ${status} ${TITLES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    socket.once("finish", () => socket.destroy());
  };
}

function describe(error: ParserError, waitingFor: "headers" | "body", timeouts: RequestTimeouts): [number, string] {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return [431, `the request's headers are larger than ${maxHeaderSize} bytes`];
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return [413, "the request's chunk extensions are too large"];
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return waitingFor === "headers"
        ? [408, `the request's headers did not arrive within HEADERS_TIMEOUT_MS (${timeouts.headersTimeoutMs} ms)`]
        : [408, `the request's body did not arrive within BODY_TIMEOUT_MS (${timeouts.bodyTimeoutMs} ms) after its headers; nothing from this request was accepted`];
    default:
      // llhttp's reasons are fixed texts such as "Duplicate Content-Length".
      return [400, `the request is not valid HTTP/1.1: ${error.reason ?? error.code ?? "malformed"}`];
  }
}
