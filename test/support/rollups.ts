import type pg from "pg";
import { expect, vi } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { pendingRollupChanges } from "../../src/observability/database-stats.ts";
import { CONTRIBUTIONS, ROLLUPS, SUMS } from "../../src/rollup/rollups.ts";

/** Each rollup's rows that hold rides, and the same groups summed straight from rides (zone: RIDES_TIME_ZONE). */
export async function rollupsAndRides(pool: pg.Pool, zone: string) {
  const out = [];
  for (const rollup of ROLLUPS) {
    const keys = [rollup.grain, ...rollup.dimensions];
    const order = keys.map((_, i) => `${i + 1} NULLS FIRST`).join(", ");
    const held = await pool.query({
      text: `SELECT ${[...keys, ...SUMS.map((s) => `${s}::text`)].join(", ")} FROM ${rollup.table} WHERE rides <> 0 ORDER BY ${order}`,
      rowMode: "array",
    });
    const fromRides = await pool.query({
      text: `SELECT date_trunc('${rollup.grain}', from_date, $1), ${rollup.dimensions.join(", ")}, ${SUMS.map((s) => `sum(${CONTRIBUTIONS[s]})::text`).join(", ")}
             FROM rides GROUP BY ${keys.map((_, i) => i + 1).join(", ")} ORDER BY ${order}`,
      values: [zone],
      rowMode: "array",
    });
    out.push({ table: rollup.table, held: held.rows, fromRides: fromRides.rows });
  }
  return out;
}

/** Waits for the folder to empty rollup_log; unlike expect.poll, it also works in beforeAll. */
export async function waitUntilFolded(pool: pg.Pool, timeoutMs = 20_000) {
  await vi.waitFor(
    async () => {
      const pending = await pendingRollupChanges(pool);
      if (pending > 0) throw new Error(`${pending} rollup changes still waiting to be folded`);
    },
    { timeout: timeoutMs, interval: 50 },
  );
}

/** Waits for the folder to empty rollup_log, then requires every rollup, on its own, to equal rides. */
export async function expectRollupsToMatchRides(pool: pg.Pool, zone = loadConfig({}).timeZone, timeoutMs = 20_000) {
  await waitUntilFolded(pool, timeoutMs);
  for (const { table, held, fromRides } of await rollupsAndRides(pool, zone)) expect(held, table).toEqual(fromRides);
}
