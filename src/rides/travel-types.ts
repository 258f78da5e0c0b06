import type pg from "pg";
import type { travelTypes as travelTypesTable } from "../db/schema.ts";
import { RIDE_FIELDS, type RideField } from "./ride.ts";

export type TravelType = Omit<typeof travelTypesTable.$inferSelect, "alwaysNull"> & { alwaysNull: RideField[] };

let known: Map<number, TravelType> | undefined;

/**
 * Reads the travel_types table (migration 0007 and any after it) once at start: the
 * validator takes exactly these ids, so a new type needs a migration, not a release.
 */
export async function loadTravelTypes(pool: pg.Pool): Promise<void> {
  const { rows } = await pool.query<typeof travelTypesTable.$inferSelect>(
    `SELECT id, name, always_null AS "alwaysNull" FROM travel_types ORDER BY id`,
  );
  if (rows.length === 0) throw new Error("the travel_types table is empty: no ride could be taken");
  const fields = new Set<string>(RIDE_FIELDS);
  for (const row of rows) {
    const unknown = row.alwaysNull.filter((field) => !fields.has(field));
    if (unknown.length > 0) throw new Error(`travel type ${row.id}'s always_null names ${unknown.join(", ")}, which is not a ride field`);
  }
  known = new Map(rows.map((row) => [row.id, row as TravelType]));
}

/** The travel types by id, as loaded at start. */
export function travelTypes(): Map<number, TravelType> {
  if (!known) throw new Error("travel types are read from the database at start: call loadTravelTypes first");
  return known;
}

/** "1 long distance, 2 point to point, 3 hourly rental": the list a rejection names. */
export const travelTypeList = () => [...travelTypes().values()].map((type) => `${type.id} ${type.name}`).join(", ");
