import type pg from "pg";
import { createJobPartitions } from "../../src/jobs/partitions.ts";
import { createMover } from "../../src/mover/move.ts";
import { createPartitions } from "../../src/mover/partitions.ts";
import { monthIn } from "../../src/rides/time.ts";

/**
 * Time passing, in bulk SQL: `count` finished jobs with ids from `firstId`, received
 * evenly from `from` to `to` (one ride each, done a second later), with their counts
 * and, for every `keyEvery`th job, an Idempotency-Key created with it. The partitions
 * of `partitionSize` ids they need are made the service's way.
 */
export type GrowJobs = { firstId: number; count: number; from: Date; to: Date; partitionSize: number; keyEvery?: number };

/** Rows per INSERT: big enough to be cheap, small enough to stay out of the way of whatever else runs. */
const ROWS_PER_STATEMENT = 500_000;

export async function growJobs(pool: pg.Pool, { firstId, count, from, to, partitionSize, keyEvery = 0 }: GrowJobs): Promise<void> {
  const lastId = firstId + count - 1;
  await pool.query("SELECT setval('jobs_id_seq', greatest($1, (SELECT last_value FROM jobs_id_seq)))", [lastId]);
  await createJobPartitions(pool, partitionSize)();
  const spanMs = to.getTime() - from.getTime();
  for (let start = firstId; start <= lastId; start += ROWS_PER_STATEMENT) {
    const end = Math.min(lastId, start + ROWS_PER_STATEMENT - 1);
    const received = `$3::timestamptz + make_interval(secs => (g - $4)::float8 / greatest($5::bigint, 1) * $6::float8 / 1000)`;
    await pool.query(
      `WITH jobs AS (
         INSERT INTO jobs (id, status, accepted, stored, received_at, finished_at)
         SELECT g, 'done', 1, 1, ${received}, ${received} + interval '1 second' FROM generate_series($1::bigint, $2::bigint) g
         RETURNING id, received_at
       ), keys AS (
         INSERT INTO idempotency_keys (key, job_id, request_hash, created_at)
         SELECT 'grown-' || id, id, 'grown', received_at FROM jobs WHERE $7::int > 0 AND id % greatest($7::int, 1) = 0
       )
       INSERT INTO job_counts (status, jobs) SELECT 'done', count(*) FROM jobs`,
      [start, end, from.toISOString(), firstId, count - 1, spanMs, keyEvery],
    );
  }
}

/**
 * One ride per grown job (ride id = job id), its from_date at the job's receipt, spread
 * over the pickup-area, model and travel-type shapes of the sample, in bulk SQL; the
 * month partitions are made the mover's way. The rollups are then filled from them as a
 * database that took these rides one by one would hold them.
 */
export async function growRides(pool: pg.Pool, { firstId, count, from, to }: Omit<GrowJobs, "partitionSize" | "keyEvery">, zone: string): Promise<void> {
  const months = new Set<string>();
  for (let t = from.getTime(); t <= to.getTime() + 31 * 86_400_000; t += 86_400_000) months.add(monthIn(t, zone));
  await createPartitions(pool, zone)([...months]);
  const spanMs = to.getTime() - from.getTime();
  const lastId = firstId + count - 1;
  for (let start = firstId; start <= lastId; start += ROWS_PER_STATEMENT) {
    const end = Math.min(lastId, start + ROWS_PER_STATEMENT - 1);
    const at = `$3::timestamptz + make_interval(secs => (g - $4)::float8 / greatest($5::bigint, 1) * $6::float8 / 1000)`;
    await pool.query(
      `INSERT INTO rides (id, user_id, vehicle_model_id, travel_type_id, from_area_id, from_date, online_booking,
                          mobile_site_booking, booking_created, from_lat, from_long, to_lat, to_long, car_cancellation, job_id)
       SELECT g, 1 + g % 40000, (ARRAY[12, 12, 12, 85, 28, 65, 24])[1 + g % 7], (ARRAY[2, 2, 2, 2, 3, 1])[1 + g % 6], 1 + g % 600,
              ${at}, g % 3 = 0, g % 11 = 0, ${at} - interval '2 hours', 12.9 + (g % 100) / 1000.0, 77.6 + (g % 97) / 1000.0,
              12.95 + (g % 89) / 1000.0, 77.65 + (g % 83) / 1000.0, g % 13 = 0, g
       FROM generate_series($1::bigint, $2::bigint) g`,
      [start, end, from.toISOString(), firstId, count - 1, spanMs],
    );
  }
  const mover = createMover({ pool, ensurePartitions: createPartitions(pool, zone), chunkRows: 1, zone, prepare: true });
  await mover.backfillRollups();
}
