import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { ClosedLoopInput, ClosedLoopResult } from "./load/closed-loop.ts";
import { runLoad } from "./processes.ts";
import { addCpu, type Bench, launch, NO_CPU, type OneRideTotals, oneRideRow, type Row, withCpu } from "./scenarios.ts";

/** How long the receiver takes to answer each delivery. */
const RECEIVER_SLEEP_MS = 30_000;
const SEED = 20130101;

/** A webhook receiver that answers every POST after RECEIVER_SLEEP_MS; how many it was sent. */
async function startSleepingReceiver() {
  let deliveries = 0;
  const server = createServer((req, res) => {
    deliveries++;
    req.resume();
    const timer = setTimeout(() => res.end("ok"), RECEIVER_SLEEP_MS);
    res.on("close", () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    deliveries: () => deliveries,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/**
 * Intake throughput (one-ride JSON POSTs, 64 connections, closed loop) of a service with a
 * webhook endpoint that is sent every finished job and sleeps 30 s before each answer,
 * against a service with no webhooks, each on a database of its own, in the order none,
 * webhook, webhook, none (halves of 5 s). Webhook settings are the defaults (a delivery
 * times out after WEBHOOK_TIMEOUT_MS, 10 s, and is retried).
 */
export async function webhooks(bench: Bench): Promise<Row[]> {
  const receiver = await startSleepingReceiver();
  try {
    const plain = await launch(bench, "service");
    const hooked = await launch(bench, "service", { WEBHOOK_URLS: `all=${receiver.url}`, WEBHOOK_SECRET: "bench-secret-0123456789", WEBHOOK_ALLOW_PRIVATE_URLS: "true" });
    const order = bench.smoke ? [plain, hooked] : [plain, hooked, hooked, plain];
    const totals = new Map([plain, hooked].map((server): [typeof server, OneRideTotals] => [server, { unit: "request", seconds: 0, ok: 0, failed: 0, latencies: [], cpu: NO_CPU }]));
    for (const [round, server] of order.entries()) {
      const input: ClosedLoopInput = {
        url: server.url, format: "json", ridesPerRequest: 1, connections: 64, firstId: round * 100_000_000 + 1, seed: SEED + round,
        ...(bench.smoke ? { amount: 300 } : { seconds: 5 }),
      };
      const { result, cpu } = await withCpu(bench, server, () => runLoad<ClosedLoopResult>("bench/load/closed-loop.ts", input));
      await server.drained();
      const total = totals.get(server)!;
      total.cpu = addCpu(total.cpu, cpu);
      total.seconds += result.seconds;
      total.ok += result.ok;
      total.failed += result.non2xx + result.errors;
      for (const ms of result.latencies) total.latencies.push(ms);
    }
    // The worker's first attempts (WEBHOOK_CONCURRENCY of them, 4) are in flight by now, or soon.
    const deadline = Date.now() + 30_000;
    while (receiver.deliveries() < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const delivered = receiver.deliveries();
    const rows: Row[] = [];
    for (const [server, label] of [[plain, "service, no webhooks"], [hooked, "service, webhook receiver sleeping 30 s"]] as const) {
      rows.push(await oneRideRow(bench, server, "webhooks (1 ride/POST, JSON, 64 conn; every job sent to a receiver that sleeps 30 s)", label, totals.get(server)!));
    }
    if (delivered < 4) bench.problems.push(`webhooks scenario: the receiver was sent ${delivered} deliveries, not the 4 in flight expected`);
    const [none, hookedRow] = rows;
    hookedRow.note = `${(hookedRow.requestsPerSecond! / none.requestsPerSecond!).toFixed(2)}× the req/s without webhooks; ${delivered} deliveries were sent to the receiver (at most WEBHOOK_CONCURRENCY, 4, in flight); ${hookedRow.note}`;
    return rows;
  } finally {
    await receiver.close();
  }
}
