import { connect, type Socket } from "node:net";
import { bodySource } from "./generate/rides.ts";
import { type Bench, launch, type Row } from "./scenarios.ts";
import { spread } from "./stats.ts";

const DECLARED_BYTES = 8_000_000;
const PIECE = Buffer.alloc(64 * 1024, " ");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One attacker: declares DECLARED_BYTES, sends all but the last byte and stalls; resolves with the status it was answered (0: none). */
function stalledSender(url: string, sockets: Socket[]): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    sockets.push(socket);
    let answer = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("error", () => {});
    socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
    socket.write(`POST /v1/rides HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${DECLARED_BYTES}\r\n\r\n`);
    let left = DECLARED_BYTES - 1;
    const pump = () => {
      while (left > 0 && !socket.destroyed) {
        const piece = left >= PIECE.length ? PIECE : PIECE.subarray(0, left);
        left -= piece.length;
        if (!socket.write(piece)) return void socket.once("drain", pump);
      }
    };
    pump();
  });
}

/**
 * The stalled-upload attack: CONNECTIONS senders each declare an 8,000,000-byte body,
 * send all but its last byte and stall, while an honest sender posts one ride every
 * 100 ms. The service's peak RSS says whether bodies in flight are bounded; the honest
 * sender's acks whether intake still works meanwhile.
 */
export async function stalledUploads(bench: Bench): Promise<Row[]> {
  const connections = bench.smoke ? 20 : 300;
  const attackSeconds = bench.smoke ? 5 : 20;
  const service = await launch(bench, "service");
  const sockets: Socket[] = [];
  const attackers = Array.from({ length: connections }, () => stalledSender(service.url, sockets));

  const body = bodySource({ seed: 20130101, format: "json", ridesPerRequest: 1, firstId: 1 });
  const acks: number[] = [];
  const honest: Record<number, number> = {};
  const until = Date.now() + attackSeconds * 1000;
  for (let i = 0; Date.now() < until; i++) {
    const sent = performance.now();
    const status = await fetch(`${service.url}/v1/rides`, { method: "POST", headers: { "content-type": "application/json" }, body: body(i) }).then(
      async (response) => (await response.arrayBuffer(), response.status),
      () => 0,
    );
    honest[status] = (honest[status] ?? 0) + 1;
    if (status === 202) acks.push(performance.now() - sent);
    await sleep(100);
  }
  for (const socket of sockets) socket.destroy();
  const answers: Record<number, number> = {};
  for (const status of await Promise.all(attackers)) answers[status] = (answers[status] ?? 0) + 1;
  await service.drained();
  const describe = (counts: Record<number, number>) => Object.entries(counts).map(([status, n]) => `${n}× ${status === "0" ? "none" : status}`).join(", ");
  return [
    {
      scenario: `stalled uploads (${connections} × ${DECLARED_BYTES.toLocaleString("en")}-byte bodies, all but the last byte, ${attackSeconds} s)`,
      server: "service",
      ridesPerSecond: acks.length / attackSeconds,
      ack: spread(acks),
      non2xx: Object.entries(honest).filter(([status]) => status !== "202").reduce((sum, [, n]) => sum + n, 0),
      peakRssMb: await service.finish("stalled-uploads"),
      note: `attackers answered: ${describe(answers)}; the honest sender (1 ride per 100 ms): ${describe(honest)}`,
    },
  ];
}

/**
 * 200 senders each POST one 10,000-ride JSON body at once, as the issue's load did, and
 * resend after Retry-After on a 503 (or when the connection is closed on them before
 * their body was read) until it is taken. Peak RSS, and each sender's time to its 202.
 */
export async function bigBatches(bench: Bench): Promise<Row[]> {
  const senders = bench.smoke ? 10 : 200;
  const ridesPerRequest = bench.smoke ? 1_000 : 10_000;
  const service = await launch(bench, "service");
  const body = bodySource({ seed: 20130101, format: "json", ridesPerRequest, firstId: 1, distinct: 4 });
  const refusals: Record<string, number> = {};
  const started = performance.now();
  const ackTimes = await Promise.all(
    Array.from({ length: senders }, async (_, i) => {
      const payload = body(i);
      for (let attempt = 0; attempt < 1_000; attempt++) {
        const status = await fetch(`${service.url}/v1/rides`, { method: "POST", headers: { "content-type": "application/json" }, body: payload }).then(
          async (response) => (await response.arrayBuffer(), response.status),
          () => 0,
        );
        if (status === 202) return performance.now() - started;
        refusals[status] = (refusals[status] ?? 0) + 1;
        await sleep(status === 503 ? 2_000 : 500);
      }
      throw new Error(`sender ${i} was never taken`);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await service.drained(300_000);
  const stored = await service.stored();
  if (stored !== senders * ridesPerRequest) bench.problems.push(`big batches: ${stored} of ${senders * ridesPerRequest} rides stored`);
  return [
    {
      scenario: `big batches (${senders} senders × one ${ridesPerRequest.toLocaleString("en")}-ride JSON POST at once, resent on 503)`,
      server: "service",
      ridesPerSecond: (senders * ridesPerRequest) / seconds,
      ack: spread(ackTimes),
      non2xx: Object.values(refusals).reduce((sum, n) => sum + n, 0),
      peakRssMb: await service.finish("big-batches"),
      note: `refusals before the 202: ${Object.entries(refusals).map(([status, n]) => `${n}× ${status === "0" ? "connection closed" : status}`).join(", ") || "none"}; all ${stored.toLocaleString("en")} rides stored`,
    },
  ];
}
