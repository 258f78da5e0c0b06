import { afterAll, expect, inject, it } from "vitest";
import { documentedVerifier, startReceiver } from "../webhooks/receiver.ts";
import { startCluster, until } from "./support/cluster.ts";
import { cleanUp } from "./support/clean-up.ts";
import { allOutput, LEAK, startServiceProcess, stopServiceProcess } from "./support/service-process.ts";

const SECRET = "whsec_fault_0123456789abcdef";
const receivers: Awaited<ReturnType<typeof startReceiver>>[] = [];
afterAll(async () => {
  for (const receiver of receivers) await receiver.close();
  await cleanUp();
});

/** One ride POSTed to the service; its job id. */
async function sendRide(url: string, id: number): Promise<number> {
  const answer = await fetch(`${url}/v1/rides`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      id, user_id: 1, vehicle_model_id: 12, package_id: null, travel_type_id: 2, from_area_id: 83, to_area_id: null,
      from_city_id: null, to_city_id: null, from_date: "2013-01-01T02:00:00+05:30", to_date: null, online_booking: false,
      mobile_site_booking: false, booking_created: "2013-01-01T01:39:00+05:30", from_lat: null, from_long: null, to_lat: null,
      to_long: null, car_cancellation: false,
    }),
  });
  expect(answer.status).toBe(202);
  return (await answer.json()).job_id;
}

/** A cluster and a receiver answering `answer`, and the service settings that send it every finished job. */
async function setUp(answer: Parameters<typeof startReceiver>[0], settings: Record<string, string>) {
  const cluster = await startCluster({ pgbouncer: inject("faultsThroughPgBouncer") === true });
  const receiver = await startReceiver(answer);
  receivers.push(receiver);
  const env = { ...cluster.serviceEnv, WEBHOOK_URLS: `all=${receiver.url}`, WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOW_PRIVATE_URLS: "true", ...settings };
  return { cluster, receiver, env };
}

it("fault 9: a webhook receiver that fails three times gets its event although the service was SIGKILLed and then stopped between attempts", async () => {
  const { cluster, receiver, env } = await setUp((attempt) => (attempt <= 3 ? 503 : 200), {
    WEBHOOK_RETRY_DELAY_SECONDS: "2",
    WEBHOOK_RETRY_DELAY_MAX_SECONDS: "4",
  });
  // The delivery is waiting for its next attempt (pg-boss recorded the failure), not in flight.
  const waitingToRetry = () =>
    until("the delivery to be waiting for its retry", async () => {
      const { rows } = await cluster.pool.query("SELECT state FROM pgboss.job WHERE name = 'webhook-deliveries'");
      return rows.length === 1 && rows[0].state === "retry";
    });

  let service = await startServiceProcess(cluster.url, { env });
  const jobId = await sendRide(service.url, 940_001);

  await until("the first attempt", () => receiver.received.length >= 1);
  await waitingToRetry();
  service.child.kill("SIGKILL");
  await service.exited;
  service = await startServiceProcess(cluster.url, { port: service.port, env });

  await until("the second attempt", () => receiver.received.length >= 2);
  await waitingToRetry();
  expect(await stopServiceProcess(service, "SIGTERM")).toBe(0);
  service = await startServiceProcess(cluster.url, { port: service.port, env });

  await until("the fourth attempt", () => receiver.received.length >= 4);
  const job = await (await fetch(`${service.url}/v1/jobs/${jobId}`)).json();
  const verify = await documentedVerifier();
  for (const request of receiver.received) {
    expect(verify(String(request.headers["rides-signature"]), request.body, SECRET)).toBe(true);
    expect(JSON.parse(request.body)).toMatchObject({ type: "job.done", job });
  }
  expect(new Set(receiver.received.map((request) => request.headers["rides-event-id"])).size).toBe(1);

  const [hook] = (await (await fetch(`${service.url}/v1/webhooks`)).json()).webhooks;
  expect(hook).toMatchObject({ url: receiver.url, notify: "all", configured: true });
  await until("the delivered attempt to be recorded", async () => {
    const { deliveries } = await (await fetch(`${service.url}/v1/webhooks/${hook.webhook_id}/deliveries`)).json();
    return deliveries[0]?.outcome === "delivered";
  });
  const { deliveries } = await (await fetch(`${service.url}/v1/webhooks/${hook.webhook_id}/deliveries`)).json();
  expect(deliveries.map((d: { attempt: number; outcome: string }) => [d.attempt, d.outcome])).toEqual([
    [4, "delivered"],
    [3, "retrying"],
    [2, "retrying"],
    [1, "retrying"],
  ]);
  // Delivered once: no attempt after the 2xx.
  expect(receiver.received).toHaveLength(4);
  expect(allOutput()).not.toMatch(LEAK);
});

it("fault 9b: a delivery whose service was SIGKILLed in the middle of its attempt is attempted again once pg-boss sees the attempt expire", { timeout: 240_000 }, async () => {
  const { cluster, receiver, env } = await setUp((attempt) => (attempt === 1 ? "hang" : 200), {
    // Long enough that the first attempt is still running when the service is killed; an
    // attempt expires (and is retried) WEBHOOK_TIMEOUT_MS + 30 s after it started.
    WEBHOOK_TIMEOUT_MS: "5000",
    WEBHOOK_RETRY_DELAY_SECONDS: "1",
  });
  let service = await startServiceProcess(cluster.url, { env });
  const jobId = await sendRide(service.url, 940_101);
  await until("the first attempt", () => receiver.received.length >= 1);
  const { rows } = await cluster.pool.query("SELECT state FROM pgboss.job WHERE name = 'webhook-deliveries'");
  expect(rows).toEqual([{ state: "active" }]);
  service.child.kill("SIGKILL");
  await service.exited;
  service = await startServiceProcess(cluster.url, { port: service.port, env });

  // pg-boss's supervisor (every 60 s) finds the attempt past its expiry and queues the retry.
  await until("the second attempt", () => receiver.received.length >= 2, 180_000);
  const job = await (await fetch(`${service.url}/v1/jobs/${jobId}`)).json();
  const [first, second] = receiver.received;
  expect(second.headers["rides-event-id"]).toBe(first.headers["rides-event-id"]);
  expect(JSON.parse(second.body)).toMatchObject({ type: "job.done", job });
  expect((await documentedVerifier())(String(second.headers["rides-signature"]), second.body, SECRET)).toBe(true);
  expect(await stopServiceProcess(service, "SIGTERM")).toBe(0);
  expect(allOutput()).not.toMatch(LEAK);
});
