import { constants } from "node:os";
import { loadConfig } from "./config.ts";
import { startService } from "./service.ts";

/** Starts the service as `npm start` runs it: configuration from the environment, the embedded PostgreSQL without DATABASE_URL, a clean stop on SIGTERM or SIGINT. */
export async function serve() {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }

  if (config.apiKeys.length === 0) {
    console.warn(
      `WARNING: no API_KEYS set: anyone who can reach ${config.host} may write and read rides without a key. ` +
        "Only loopback is allowed like this; set API_KEYS to listen on another address.",
    );
  }

  // Until the service runs, a signal ends the process at once (an embedded PostgreSQL stops with it); then it stops cleanly.
  let onSignal: (signal: NodeJS.Signals) => void = (signal) => process.exit(128 + constants.signals[signal]);
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => onSignal(signal));

  let embedded: Awaited<ReturnType<typeof import("./db/embedded.ts").startEmbedded>> | undefined;
  let service: Awaited<ReturnType<typeof startService>>;
  try {
    // Imported only when needed: a container with DATABASE_URL ships without the embedded server.
    embedded = config.databaseUrl
      ? undefined
      : await (await import("./db/embedded.ts")).startEmbedded(`${config.dataDir}/postgres`);
    if (embedded) console.log(`No DATABASE_URL: started the embedded PostgreSQL in ${embedded.dataDir} (${embedded.url})`);
    service = await startService({ ...config, databaseUrl: config.databaseUrl ?? embedded!.url });
  } catch (error) {
    // The message only: a stack trace or a connection string does not belong in a log.
    console.error(`could not start: ${error instanceof Error ? error.message : String(error)}`);
    await embedded?.stop();
    process.exit(1);
  }

  console.log(`rides-ingest is listening on ${service.url}`);
  const example = JSON.stringify({
    id: 1, user_id: 17, vehicle_model_id: 12, travel_type_id: 2, from_date: "2013-01-01T02:00", online_booking: 0,
    mobile_site_booking: 0, booking_created: "2013-01-01T01:39", from_lat: 12.92415, from_long: 77.67229, car_cancellation: 0,
  });
  console.log(`Try: curl -i -H 'content-type: application/json' -d '${example}' ${service.url}/v1/rides`);

  let stopping = false;
  async function shutdown(signal: string) {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: finishing requests in flight and the mover's current chunk`);
    try {
      await service.stop();
      await embedded?.stop();
      process.exit(0);
    } catch (error) {
      console.error(`shutdown failed: ${(error as Error).message}`);
      process.exit(1);
    }
  }
  onSignal = (signal) => void shutdown(signal);
}
