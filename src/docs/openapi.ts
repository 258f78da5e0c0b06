import { Scalar } from "@scalar/hono-api-reference";
import { toJsonSchema } from "@valibot/to-json-schema";
import { Hono } from "hono";
import { describeRoute, openAPIRouteHandler } from "hono-openapi";
import type { OpenAPIV3, OpenAPIV3_1 } from "openapi-types";
import type * as v from "valibot";
import { packageFile, serveFile } from "../http/static-file.ts";
import { JOB_STATUSES } from "../jobs/store.ts";
import { RIDE_FIELDS, rideSchema } from "../rides/ride.ts";

type Schema = OpenAPIV3_1.SchemaObject;

/** A valibot schema as OpenAPI 3.1 (JSON Schema 2020-12) in the shape a client sends; transforms are left to the description. */
export function jsonSchemaOf(schema: v.GenericSchema): Schema {
  const { $schema: _, ...json } = toJsonSchema(schema, { target: "draft-2020-12", typeMode: "input", errorMode: "ignore" });
  return json as Schema;
}

/** The properties of a query-parameter object schema as OpenAPI parameters. */
export function queryParameters(schema: v.GenericSchema, descriptions: Record<string, string> = {}): OpenAPIV3_1.ParameterObject[] {
  const json = jsonSchemaOf(schema);
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: "query",
    required: json.required?.includes(name) ?? false,
    description: descriptions[name],
    // openapi-types types 3.1 parameters with 3.0 schemas; the document itself is 3.1.
    schema: property as OpenAPIV3.SchemaObject,
  }));
}

const ref = (name: string): OpenAPIV3_1.ReferenceObject => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema | OpenAPIV3_1.ReferenceObject) => ({ "application/json": { schema } });
export const problem = (description: string): OpenAPIV3_1.ResponseObject => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});

const job: Schema = {
  type: "object",
  required: ["job_id", "status", "accepted", "stored", "superseded", "failed", "error", "received_at", "finished_at", "attempts"],
  properties: {
    job_id: { type: "integer" },
    status: { enum: [...JOB_STATUSES], type: "string" },
    accepted: { type: "integer", description: "rides accepted with the job" },
    stored: { type: "integer", description: "distinct rides of the job the mover wrote to rides (one per id)" },
    superseded: {
      type: "integer",
      description: "rides of a done job replaced before they were stored by a later copy of the same id, in this request or in a later job moved with it (accepted = stored + superseded)",
    },
    failed: { type: "integer", description: "rides of a failed job" },
    error: { type: ["string", "null"], description: "why the job failed or was lost" },
    received_at: { type: "string", format: "date-time" },
    finished_at: { type: ["string", "null"], format: "date-time", description: "taken just before the outcome was committed: for a done job, when its rides became readable" },
    attempts: { type: "integer", minimum: 1, description: "times its rides were staged: 1, plus one per POST /v1/jobs/{id}/retry" },
  },
};

const rejection: Schema = {
  type: "object",
  required: ["job_id", "index", "ride_id", "reasons", "raw", "truncated", "received_at"],
  properties: {
    job_id: { type: "integer" },
    index: { type: "integer", description: "position of the ride in its request, as in the answer's rejected list" },
    ride_id: { type: ["integer", "null"], description: "the ride's id when it could be read as one" },
    reasons: {
      type: "array",
      maxItems: 21,
      items: { type: "object", required: ["path", "message"], properties: { path: { type: "string" }, message: { type: "string" } } },
    },
    raw: { type: "string", description: "the ride as it came (its CSV line, its JSON text; a stream frame's ride as JSON), at most 8192 UTF-8 bytes" },
    truncated: { type: "boolean", description: "raw was cut at 8192 bytes" },
    received_at: { type: "string", format: "date-time" },
  },
};

const rejected: Schema = {
  type: "array",
  items: {
    type: "object",
    required: ["index", "id", "errors"],
    properties: {
      index: { type: "integer", description: "position of the ride in the body (0-based; CSV and NDJSON: among the non-blank data lines)" },
      id: { description: "the ride's id as sent, or null" },
      errors: {
        type: "array",
        items: { type: "object", required: ["path", "message"], properties: { path: { type: "string" }, message: { type: "string" } } },
      },
    },
  },
};

// Notifications (docs/notifications.md).
const webhook: Schema = {
  type: "object",
  required: ["webhook_id", "url", "notify", "configured", "created_at"],
  properties: {
    webhook_id: { type: "integer" },
    url: { type: "string", format: "uri" },
    notify: { enum: ["failures", "all"], type: "string", description: "failures: failed and lost jobs; all: every finished job too" },
    configured: { type: "boolean", description: "from WEBHOOK_URLS (not deletable through the API)" },
    created_at: { type: "string", format: "date-time" },
  },
};
const webhookDelivery: Schema = {
  type: "object",
  required: ["delivery_id", "event_id", "job_id", "attempt", "outcome", "response_status", "error", "duration_ms", "attempted_at"],
  properties: {
    delivery_id: { type: "integer" },
    event_id: { type: "integer", description: "the Rides-Event-Id header: the same in every attempt of an event, for de-duplication" },
    job_id: { type: "integer" },
    attempt: { type: "integer", description: "1 for the first attempt" },
    outcome: { enum: ["delivered", "retrying", "gave_up"], type: "string" },
    response_status: { type: ["integer", "null"] },
    error: { type: ["string", "null"] },
    duration_ms: { type: "integer" },
    attempted_at: { type: "string", format: "date-time" },
  },
};
export const WEBHOOK_RESPONSE: OpenAPIV3_1.ResponseObject = { description: "The endpoint", content: json(ref("Webhook")) };
export const WEBHOOK_CREATED_RESPONSE: OpenAPIV3_1.ResponseObject = {
  description: "The endpoint, with the secret its deliveries are signed with (shown only here)",
  content: json({ allOf: [ref("Webhook"), { type: "object", required: ["secret"], properties: { secret: { type: "string" } } }] }),
};
export const WEBHOOK_LIST_RESPONSE: OpenAPIV3_1.ResponseObject = {
  description: "Every endpoint, oldest first",
  content: json({ type: "object", required: ["webhooks"], properties: { webhooks: { type: "array", items: ref("Webhook") } } }),
};
export const DELIVERY_LIST_RESPONSE: OpenAPIV3_1.ResponseObject = {
  description: "Delivery attempts, newest first",
  content: json({ type: "object", required: ["deliveries"], properties: { deliveries: { type: "array", items: ref("WebhookDelivery") } } }),
};
export const JOB_EVENTS_RESPONSE: OpenAPIV3_1.ResponseObject = {
  description:
    "Server-Sent Events: one `data:` per job transition, the job as GET /v1/jobs/{id} answered it then, `id:` its event sequence (send it back as Last-Event-ID to resume); `: keep-alive` comments every SSE_PING_INTERVAL_MS",
  content: { "text/event-stream": { schema: { type: "string" } } },
};

function components(timeZone: string): OpenAPIV3_1.ComponentsObject {
  const ride: Schema = {
    ...jsonSchemaOf(rideSchema(timeZone)),
    description:
      `A ride. Times are ISO 8601; without an offset they are read in ${timeZone} (or ?tz). ` +
      "Flags take true/false or 0/1. Stored rides are served with times in UTC and flags as booleans.",
  };
  return {
    schemas: {
      Ride: ride,
      Job: job,
      Rejected: rejected,
      Webhook: webhook,
      WebhookDelivery: webhookDelivery,
      Rejection: rejection,
      Unlisted: {
        type: "object",
        required: ["rides", "by_field"],
        properties: { rides: { type: "integer" }, by_field: { type: "object", additionalProperties: { type: "integer" } } },
      },
      Problem: {
        type: "object",
        description: "RFC 9457 problem details",
        required: ["type", "title", "status", "detail"],
        properties: {
          type: { type: "string" },
          title: { type: "string" },
          status: { type: "integer" },
          detail: { type: "string", description: "names the field or parameter and the reason" },
          instance: { type: "string" },
          request_id: { type: "string", description: "the X-Request-Id of the request, for finding its log lines" },
        },
      },
    },
  };
}

/** The request body of POST /v1/rides in each media type it is read from (the handler reads it by hand). */
export const RIDES_REQUEST_BODY: OpenAPIV3_1.RequestBodyObject = {
  required: true,
  content: {
    "application/json": { schema: { oneOf: [ref("Ride"), { type: "array", items: ref("Ride") }] } },
    "application/x-ndjson": {
      schema: { type: "string", description: "one Ride JSON object per line" },
      example: '{"id":1,"user_id":17,...}\n{"id":2,"user_id":18,...}\n',
    },
    "text/csv": {
      schema: {
        type: "string",
        description: `the producer's CSV: a header naming the ride fields (${RIDE_FIELDS.join(",")}; any case), NULL for missing values, times as M/D/YYYY H:MM in the sender's zone`,
      },
    },
  },
};

export const ACCEPTED_RESPONSE: OpenAPIV3_1.ResponseObject = {
  description: "The valid rides are committed and will be stored; follow the job at Location",
  headers: { Location: { schema: { type: "string" }, description: "/v1/jobs/{job_id}" } },
  content: json({
    type: "object",
    required: ["job_id", "status", "accepted", "rejected", "rejected_count", "warnings", "warnings_count"],
    properties: {
      job_id: { type: "integer" },
      status: { const: "queued" },
      accepted: { type: "integer" },
      rejected: { ...ref("Rejected"), description: "the first 100 rejected rides" },
      rejected_count: { type: "integer", description: "every rejected ride" },
      rejected_unlisted: { ...ref("Unlisted"), description: "present past 100: the rides not listed, counted by field" },
      warnings: { type: "array", description: "the first 100 rides taken with a warning", items: { type: "object", required: ["index", "id", "warnings"] } },
      warnings_count: { type: "integer" },
      warnings_unlisted: ref("Unlisted"),
    },
  }),
};

export const JOB_RESPONSE: OpenAPIV3_1.ResponseObject = { description: "The job", content: json(ref("Job")) };
/** A page of the quarantine; next_cursor (or null at the end) fetches the next one. */
export const REJECTIONS_RESPONSE: OpenAPIV3_1.ResponseObject = {
  description: "Rejected rides with their reasons and raw input",
  content: json({
    type: "object",
    required: ["rejections", "next_cursor"],
    properties: { rejections: { type: "array", items: ref("Rejection") }, next_cursor: { type: ["string", "null"] } },
  }),
};
export const JOB_LIST_RESPONSE: OpenAPIV3_1.ResponseObject = {
  description: "Jobs, newest first",
  content: json({ type: "object", required: ["jobs"], properties: { jobs: { type: "array", items: ref("Job") } } }),
};
export const RIDE_RESPONSE: OpenAPIV3_1.ResponseObject = { description: "The stored ride", content: json(ref("Ride")) };
/** The {id} of /v1/jobs/{id} and /v1/rides/{id} (see idParam). */
export const ID_PARAMETER: OpenAPIV3_1.ParameterObject = { name: "id", in: "path", required: true, schema: { type: "integer", minimum: 1 } };
export const UNAVAILABLE = problem("The database is unreachable (Retry-After says when to retry)");

const SCALAR_BUNDLE = packageFile("@scalar/api-reference", "./browser/standalone.js");

/** /openapi.json generated from the app's routes, and the Scalar reference at /docs with its script served locally. */
export function docsRoutes(app: Hono, timeZone: string) {
  return new Hono()
    .get(
      "/openapi.json",
      describeRoute({ tags: ["operations"], summary: "This OpenAPI 3.1 document", responses: { 200: { description: "OpenAPI document" } } }),
      openAPIRouteHandler(app, {
        documentation: {
          info: { title: "rides-ingest", version: "1", description: "Ride intake for XRides: send rides, follow jobs, read stored rides." },
          tags: [
            { name: "rides", description: "Send rides and read stored ones" },
            { name: "jobs", description: "Follow what became of the rides sent" },
            { name: "operations", description: "Health, metrics and these docs" },
            { name: "dashboard", description: "The live dashboard at /" },
          ],
          components: components(timeZone),
        },
        excludeStaticFile: false,
      }),
    )
    .get(
      "/docs",
      describeRoute({ tags: ["operations"], summary: "Interactive API reference (Scalar)", responses: { 200: { description: "HTML page" } } }),
      Scalar({ url: "/openapi.json", cdn: "/docs/scalar.js", pageTitle: "rides-ingest API", withDefaultFonts: false }),
    )
    .get(
      "/docs/scalar.js",
      describeRoute({ tags: ["operations"], summary: "The Scalar script, served locally", responses: { 200: { description: "JavaScript" } } }),
      serveFile(SCALAR_BUNDLE, "text/javascript; charset=utf-8"),
    );
}
