import { createPool } from "../../src/db/client.ts";
import { columns, recordType, updates } from "../../src/jobs/store.ts";
import { createPartitions } from "../../src/mover/partitions.ts";
import { monthIn } from "../../src/rides/time.ts";
import { config, databaseUrl, serveBaseline } from "./baseline.ts";

// Baseline "naive": each request's rides go straight into the partitioned rides table,
// one statement per request, answered once it commits. The database is migrated by the bench.
const INSERT_RIDES = `
INSERT INTO rides (${columns}, job_id)
SELECT ${columns}, 0 FROM jsonb_to_recordset($1::jsonb) AS r(${recordType})
ON CONFLICT (id, from_date) DO UPDATE SET ${updates}, stored_at = now()`;

const pool = createPool(databaseUrl);
const ensurePartitions = createPartitions(pool, config.timeZone);

await serveBaseline(
  async (rides) => {
    await ensurePartitions(rides.map((ride) => monthIn(Date.parse(ride.from_date), config.timeZone)));
    await pool.query(INSERT_RIDES, [JSON.stringify(rides)]);
  },
  () => pool.end(),
);
