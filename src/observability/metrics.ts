import type pg from "pg";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { MemoryBudget } from "../http/memory-budget.ts";
import { JOB_STATUSES, jobCounts, jobsFinishedAfter, newestJobId, stagingBacklog } from "../jobs/store.ts";
import type { PruneReport } from "../retention/pruner.ts";
import { pendingRollupChanges } from "./database-stats.ts";
import type { Quarantine } from "../rides/index.ts";

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LAG_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * The service's Prometheus metrics. Request and intake counters are counted in this
 * process; the staging backlog, job totals and the mover's output are read from the
 * database at scrape time, so they are right whichever process did the work.
 */
// On a hot standby: how far its replay is behind (0 once it has replayed all it received,
// so an idle primary does not read as a growing lag); on the primary itself, 0.
const REPLICATION_LAG = `
SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8 AS seconds`;

/** `analyticsPool` serves ANALYTICS_DATABASE_URL (a standby, maybe). */
export function createMetrics({ pool, analyticsPool, memoryBudget }: { pool: pg.Pool; analyticsPool: pg.Pool; memoryBudget: MemoryBudget }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const httpRequests = new Counter({
    name: "http_requests_total",
    help: "HTTP requests answered, by route and status",
    labelNames: ["method", "route", "status"] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: "http_request_duration_seconds",
    help: "Time to answer an HTTP request, by route and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const ridesAccepted = new Counter({ name: "rides_accepted_total", help: "Rides validated and staged (answered 202)", registers });
  const ridesRejected = new Counter({ name: "rides_rejected_total", help: "Rides refused by validation", registers });
  const ridesQuarantined = new Counter({
    name: "rides_quarantined_total",
    help: "Rejected rides of accepted requests kept in the quarantine, once per field a reason names",
    labelNames: ["field"] as const,
    registers,
  });

  const stagingRides = new Gauge({ name: "rides_staging_rides", help: "Rides in staging waiting for the mover", registers });
  const stagingJobs = new Gauge({ name: "rides_staging_jobs", help: "Jobs in staging waiting for the mover", registers });
  const stagingOldest = new Gauge({
    name: "rides_staging_oldest_age_seconds",
    help: "Age of the oldest staged job (0 when staging is empty)",
    registers,
  });
  const rollupPending = new Gauge({
    name: "rides_rollup_pending_changes",
    help: "Changes stored in rides but not yet folded into the rollups (answers count them either way)",
    registers,
  });
  const jobs = new Gauge({ name: "rides_jobs", help: "Jobs in the database by status", labelNames: ["status"] as const, registers });
  const jobsFinished = new Counter({
    name: "rides_jobs_finished_total",
    help: "Jobs that reached an outcome since this process started, by outcome",
    labelNames: ["status"] as const,
    registers,
  });
  const ridesStored = new Counter({ name: "rides_stored_total", help: "Rides the mover stored (its throughput)", registers });
  const ridesFailed = new Counter({ name: "rides_failed_total", help: "Rides of failed jobs", registers });
  const ackToStored = new Histogram({
    name: "rides_ack_to_stored_seconds",
    help: "Mover lag: from a job being staged (just before its 202) to its rides being readable in rides",
    buckets: LAG_BUCKETS,
    registers,
  });
  const pruned = new Counter({
    name: "rides_retention_pruned_rows_total",
    help: "Rows dropped past retention, by table (jobs: JOBS_RETENTION_DAYS; idempotency_keys: IDEMPOTENCY_KEY_TTL_HOURS)",
    labelNames: ["table"] as const,
    registers,
  });
  const partitionsDropped = new Counter({
    name: "rides_retention_partitions_dropped_total",
    help: "Whole partitions dropped past retention, by table",
    labelNames: ["table"] as const,
    registers,
  });
  const oldestKeptJob = new Gauge({ name: "rides_jobs_oldest_kept_id", help: "The lowest job id kept (0 when there is none)", registers });
  const nextPrune = new Gauge({
    name: "rides_retention_next_prune_timestamp_seconds",
    help: "When this process prunes next (Unix time)",
    registers,
  });
  const poolConnections = new Gauge({
    name: "db_pool_connections",
    help: "The HTTP pool's connections: total, idle, and requests waiting for one",
    labelNames: ["state"] as const,
    registers,
  });

  const analyticsPoolConnections = new Gauge({
    name: "db_analytics_pool_connections",
    help: "The analytics pool's connections (POST /v1/query, dashboard chart): total, idle, and reads waiting for one",
    labelNames: ["state"] as const,
    registers,
  });
  const replicationLag = new Gauge({
    name: "analytics_replication_lag_seconds",
    help: "How far ANALYTICS_DATABASE_URL's replay is behind the primary (0 when it is the primary or has replayed all it received; -1 when it cannot be read)",
    registers,
  });
  const streamsOpen = new Gauge({ name: "rides_streams_open", help: "WebSocket streams open in this process", registers });
  const streamFrames = new Counter({
    name: "rides_stream_frames_total",
    help: "Stream frames answered, by outcome: acked, or the status of the error frame",
    labelNames: ["outcome"] as const,
    registers,
  });
  const streamRides = new Counter({
    name: "rides_stream_rides_total",
    help: "Rides in stream frames, by outcome: accepted, rejected (by validation), refused (the frame was not taken)",
    labelNames: ["outcome"] as const,
    registers,
  });
  const streamAck = new Histogram({
    name: "rides_stream_ack_seconds",
    help: "From a stream frame read to its ack written (the commit included)",
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const streamCloses = new Counter({
    name: "rides_stream_closes_total",
    help: "Streams closed, by WebSocket close code",
    labelNames: ["code"] as const,
    registers,
  });
  // Notifications (GET /v1/jobs/events, webhooks).
  const sseOpen = new Gauge({ name: "rides_sse_streams_open", help: "GET /v1/jobs/events streams open in this process (SSE_MAX_OPEN)", registers });
  const webhookDeliveries = new Counter({
    name: "rides_webhook_deliveries_total",
    help: "Webhook delivery attempts made by this process, by outcome: delivered, retrying (will be tried again), gave_up (WEBHOOK_RETRY_LIMIT reached)",
    labelNames: ["outcome"] as const,
    registers,
  });
  const webhookDuration = new Histogram({
    name: "rides_webhook_delivery_seconds",
    help: "Time of a webhook delivery attempt, from the request to the answer or the timeout (WEBHOOK_TIMEOUT_MS)",
    buckets: LATENCY_BUCKETS,
    registers,
  });
  new Gauge({
    name: "rides_intake_memory_reserved_bytes",
    help: `Bytes of request bodies held now, of INTAKE_MEMORY_BUDGET_BYTES (${memoryBudget.limitBytes}); past it intake answers 503`,
    registers,
    collect() {
      this.set(memoryBudget.reserved());
    },
  });
  new Gauge({
    name: "rides_intake_memory_waiting_requests",
    help: "Request bodies waiting for room in INTAKE_MEMORY_BUDGET_BYTES (INTAKE_BUDGET_WAIT_MS), unread meanwhile",
    registers,
    collect() {
      this.set(memoryBudget.waiting());
    },
  });

  // Jobs finished before this process started were counted by its predecessor.
  let watermark: Promise<number> | number = newestJobId(pool);
  watermark.catch(() => {});

  async function readDatabase() {
    watermark = await Promise.resolve(watermark).catch(() => newestJobId(pool));
    const backlog = await stagingBacklog(pool);
    stagingRides.set(backlog.rides);
    stagingJobs.set(backlog.jobs);
    stagingOldest.set(backlog.oldestAgeSeconds);
    rollupPending.set(await pendingRollupChanges(pool));
    const counts = await jobCounts(pool);
    for (const status of JOB_STATUSES) jobs.set({ status }, counts[status]);
    for (const job of await jobsFinishedAfter(pool, watermark)) {
      jobsFinished.inc({ status: job.status });
      ridesStored.inc(job.stored);
      ridesFailed.inc(job.failed);
      if (job.status === "done") ackToStored.observe(job.lagSeconds);
      watermark = job.id;
    }
  }

  return {
    /** Counts one answered request; route is the matched pattern (never the raw path, to bound label cardinality). */
    request(method: string, route: string, status: number, seconds: number) {
      const labels = { method, route, status: String(status) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, seconds);
    },
    ridesRead(accepted: number, rejected: number) {
      ridesAccepted.inc(accepted);
      ridesRejected.inc(rejected);
    },
    /** Rejected rides committed to the quarantine with their job. */
    quarantined({ byField }: Quarantine) {
      for (const [field, rides] of Object.entries(byField)) ridesQuarantined.inc({ field }, rides);
    },
    stream: {
      opened: () => streamsOpen.inc(),
      closed(code: number) {
        streamsOpen.dec();
        streamCloses.inc({ code: String(code) });
      },
      /** One answered frame: outcome "acked" or its error status; rides by outcome. */
      answered(outcome: string, rides: { accepted: number; rejected: number; refused: number }, seconds?: number) {
        streamFrames.inc({ outcome });
        for (const [kind, count] of Object.entries(rides)) if (count > 0) streamRides.inc({ outcome: kind }, count);
        if (seconds !== undefined) streamAck.observe(seconds);
      },
    },
    sseOpen: (open: number) => sseOpen.set(open),
    webhookDelivery(outcome: string, seconds: number) {
      webhookDeliveries.inc({ outcome });
      webhookDuration.observe(seconds);
    },
    /** A prune's outcome (src/retention/pruner.ts). */
    pruned(report: PruneReport) {
      pruned.inc({ table: "jobs" }, report.jobs);
      pruned.inc({ table: "idempotency_keys" }, report.idempotencyKeys);
      pruned.inc({ table: "rejections" }, report.rejections);
      pruned.inc({ table: "failed_payloads" }, report.failedPayloads);
      partitionsDropped.inc({ table: "jobs" }, report.jobPartitions);
      partitionsDropped.inc({ table: "rides" }, report.ridesPartitions);
      if (!report.skipped) oldestKeptJob.set(report.oldestKeptJobId ?? 0);
    },
    pruneScheduled(at: Date) {
      nextPrune.set(at.getTime() / 1000);
    },
    contentType: registry.contentType,
    async scrape(): Promise<string> {
      poolConnections.set({ state: "total" }, pool.totalCount);
      poolConnections.set({ state: "idle" }, pool.idleCount);
      poolConnections.set({ state: "waiting" }, pool.waitingCount);
      analyticsPoolConnections.set({ state: "total" }, analyticsPool.totalCount);
      analyticsPoolConnections.set({ state: "idle" }, analyticsPool.idleCount);
      analyticsPoolConnections.set({ state: "waiting" }, analyticsPool.waitingCount);
      // A standby that is down must not fail the scrape of the rest.
      replicationLag.set(
        await analyticsPool.query<{ seconds: number }>(REPLICATION_LAG).then((result) => result.rows[0].seconds, () => -1),
      );
      await readDatabase();
      return registry.metrics();
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
