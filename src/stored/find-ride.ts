import type pg from "pg";
import { RIDE_FIELDS, type Ride } from "../rides/index.ts";

const TIME_FIELDS = ["from_date", "to_date", "booking_created"] as const;
const FIND_RIDE = `SELECT ${RIDE_FIELDS.join(", ")} FROM rides WHERE id = $1`;

/** A stored ride in the shape a sender posts: numbers, booleans, ISO 8601 UTC times, nulls. */
export async function findRide(pool: pg.Pool, id: number): Promise<Ride | undefined> {
  const { rows } = await pool.query(FIND_RIDE, [id]);
  const row = rows[0];
  if (!row) return undefined;
  for (const field of TIME_FIELDS) row[field] = row[field]?.toISOString() ?? null;
  return row as Ride;
}
