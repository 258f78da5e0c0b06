import { connect, type Socket } from "node:net";

export type RawAnswer = { status: number; headers: Record<string, string>; body: any; text: string };

/**
 * A connection that writes bytes exactly as given (what fetch would refuse to send) and
 * reads the server's answer until the server closes it.
 */
export function rawConnection(url: string) {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect({ host: hostname, port: Number(port) });
  let received = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => (received += chunk));
  const closed = new Promise<void>((resolve) => {
    socket.on("close", () => resolve());
    // A reset after the answer arrived: the answer still counts.
    socket.on("error", () => {});
  });
  return {
    socket,
    write: (data: string | Buffer) => new Promise<void>((resolve) => socket.write(data, () => resolve())),
    /** The answer, once the server has closed the connection. */
    answer: async (): Promise<RawAnswer> => {
      await closed;
      return parseAnswer(received);
    },
  };
}

export async function rawRequest(url: string, request: string): Promise<RawAnswer> {
  const connection = rawConnection(url);
  await connection.write(request);
  return connection.answer();
}

function parseAnswer(text: string): RawAnswer {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return { status: 0, headers: {}, body: undefined, text };
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
  const rest = Buffer.from(text.slice(end + 4), "latin1").toString("utf8");
  let body: unknown;
  try {
    body = JSON.parse(rest);
  } catch {
    body = undefined;
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body, text: rest };
}
