import { Hono } from "hono";
import type pg from "pg";
import { Problem } from "../http/problem.ts";
import { idParam } from "../http/validate-query.ts";
import { findRide } from "./find-ride.ts";

export function storedRoutes(pool: pg.Pool) {
  return new Hono().get("/v1/rides/:id", async (c) => {
    const id = idParam(c.req.param("id"));
    const ride = id === undefined ? undefined : await findRide(pool, id);
    if (!ride) throw new Problem(404, `no stored ride ${c.req.param("id")} (a ride just sent may still be queued)`);
    return c.json(ride);
  });
}
