import { getTableConfig } from "drizzle-orm/pg-core";
import { describe, expect, it } from "vitest";
import { ridesDailyByArea, ridesDailyByModel, ridesHourly, ridesHourlyByModel, ridesHourlyByTravelType, ridesMonthlyByArea, ridesMonthlyByModel } from "../../src/db/schema.ts";
import { GRAINS, ROLLUPS, SUMS } from "../../src/rollup/rollups.ts";

describe("the rollup list the mover and the query router use", () => {
  it("is the rollup tables of the drizzle schema, column for column", () => {
    const fromSchema = [ridesMonthlyByModel, ridesMonthlyByArea, ridesDailyByModel, ridesHourlyByTravelType, ridesHourlyByModel, ridesDailyByArea, ridesHourly].map((table) => {
      const { name, columns } = getTableConfig(table);
      const names = columns.map((column) => column.name);
      const grain = GRAINS.find((g) => names.includes(g));
      return { table: name, grain, dimensions: names.filter((c) => c !== grain && !(SUMS as string[]).includes(c)) };
    });
    expect(ROLLUPS).toEqual(fromSchema);
  });
});
