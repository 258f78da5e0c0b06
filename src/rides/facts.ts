import type { FieldError, Ride } from "./ride.ts";
import { travelTypeList, travelTypes } from "./travel-types.ts";

export type Findings = { errors: FieldError[]; warnings: FieldError[] };

/**
 * What a ride's fields must say together. Each check was held against the 200 real
 * rides of data/xrides-2013-sample.csv: one that no real ride fails rejects the ride,
 * one that real rides fail only warns (README, "Rejected or warned").
 */
export function checkFacts(ride: Ride): Findings {
  const errors: FieldError[] = [];
  const warnings: FieldError[] = [];
  const type = travelTypes().get(ride.travel_type_id);
  if (!type) {
    errors.push({ path: "travel_type_id", message: `${ride.travel_type_id} is not a travel type (${travelTypeList()})` });
  } else {
    // 0 of 200 fail (nor any of the 43,431 rides of the full data set).
    for (const field of type.alwaysNull) {
      if (ride[field] !== null) {
        errors.push({ path: field, message: `must be null for travel_type_id ${type.id} (${type.name}), got ${ride[field]}` });
      }
    }
  }
  // 0 of 200 fail: the earliest booking is 21 minutes before its ride.
  if (ride.booking_created > ride.from_date) {
    errors.push({ path: "booking_created", message: `${ride.booking_created} is after from_date ${ride.from_date}; a ride is booked before it starts` });
  }
  // 9 of 200 fail, each a to_date at midnight of the ride's day (a date without its time): kept, with a warning.
  if (ride.to_date !== null && ride.to_date < ride.from_date) {
    warnings.push({ path: "to_date", message: `${ride.to_date} is before from_date ${ride.from_date}; stored as sent` });
  }
  return { errors, warnings };
}
