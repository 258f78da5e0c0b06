import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import type pg from "pg";
import { ID_PARAMETER, problem, RIDE_RESPONSE, UNAVAILABLE } from "../docs/openapi.ts";
import { Problem } from "../http/problem.ts";
import { idParam } from "../http/validate-query.ts";
import { findRide } from "./find-ride.ts";

export function storedRoutes(pool: pg.Pool) {
  return new Hono().get(
    "/v1/rides/:id",
    describeRoute({
      tags: ["rides"],
      summary: "A stored ride, in the shape a sender posts (times in UTC)",
      parameters: [ID_PARAMETER],
      responses: { 200: RIDE_RESPONSE, 404: problem("Not stored (yet)"), 503: UNAVAILABLE },
    }),
    async (c) => {
      const id = idParam(c.req.param("id"));
      const ride = id === undefined ? undefined : await findRide(pool, id);
      if (!ride) throw new Problem(404, `no stored ride ${c.req.param("id")} (a ride just sent may still be queued)`);
      return c.json(ride);
    },
  );
}
