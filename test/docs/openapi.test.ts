import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RIDE_FIELDS } from "../../src/rides/ride.ts";
import type { Service } from "../../src/service.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { startTestService } from "../support/service.ts";

let db: TestDatabase;
let service: Service;
let document: any;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url);
  document = await (await fetch(`${service.url}/openapi.json`)).json();
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

describe("/openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    expect(document.openapi).toBe("3.1.0");
    await expect(SwaggerParser.validate(structuredClone(document))).resolves.toBeDefined();
  });

  it("documents every route the app serves", () => {
    const routes = service.app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`);
    const documented = Object.entries(document.paths as Record<string, object>).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(routes.length).toBeGreaterThan(10);
    expect(new Set(documented)).toEqual(new Set(routes));
  });

  it("describes the ride from the valibot schema the intake validates with, in every accepted media type", () => {
    const ride = document.components.schemas.Ride;
    expect(Object.keys(ride.properties)).toEqual([...RIDE_FIELDS]);
    expect(ride.additionalProperties).toBe(false);
    expect(ride.required).toEqual(
      ["id", "user_id", "vehicle_model_id", "travel_type_id", "from_date", "online_booking", "mobile_site_booking", "booking_created", "car_cancellation"],
    );
    expect(ride.properties.from_lat.anyOf[0]).toMatchObject({ type: "number", minimum: -90, maximum: 90 });
    const post = document.paths["/v1/rides"].post;
    expect(Object.keys(post.requestBody.content).sort()).toEqual(["application/json", "application/x-ndjson", "text/csv"]);
    expect(Object.keys(post.responses).sort()).toEqual(["202", "400", "408", "413", "415", "422", "502", "503"]);
    expect(document.paths["/v1/jobs"].get.parameters.map((p: { name: string }) => p.name)).toEqual(["status", "since", "limit"]);
    expect(document.paths["/v1/rejections"].get.parameters.map((p: { name: string }) => p.name)).toEqual(["since", "until", "field", "limit", "cursor"]);
    expect(document.paths["/v1/jobs/{id}/rejections"].get.responses["200"].content["application/json"].schema.properties.rejections.items).toEqual({
      $ref: "#/components/schemas/Rejection",
    });
    expect(Object.keys(document.paths["/v1/jobs/{id}/retry"].post.responses).sort()).toEqual(["202", "404", "409", "503"]);
    expect(document.components.schemas.Job.required).toContain("attempts");
  });
});

describe("/docs", () => {
  it("serves the Scalar reference with its script from this service, not a CDN", async () => {
    const page = await (await fetch(`${service.url}/docs`)).text();
    const scripts = [...page.matchAll(/<script[^>]*src="([^"]+)"/g)].map((match) => match[1]);
    expect(scripts).toEqual(["/docs/scalar.js"]);
    expect(page).toContain("/openapi.json");
    expect(page).not.toMatch(/https?:\/\/(cdn|fonts)\./);
    const script = await fetch(`${service.url}/docs/scalar.js`);
    expect(script.headers.get("content-type")).toMatch(/javascript/);
    expect((await script.text()).length).toBeGreaterThan(1_000_000);
  });
});
