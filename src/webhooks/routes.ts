import { randomBytes } from "node:crypto";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { describeRoute } from "hono-openapi";
import * as v from "valibot";
import {
  DELIVERY_LIST_RESPONSE,
  ID_PARAMETER,
  jsonSchemaOf,
  problem,
  queryParameters,
  UNAVAILABLE,
  WEBHOOK_CREATED_RESPONSE,
  WEBHOOK_LIST_RESPONSE,
  WEBHOOK_RESPONSE,
} from "../docs/openapi.ts";
import { jsonBody } from "../http/media-type.ts";
import { Problem } from "../http/problem.ts";
import { idParam, validateQuery } from "../http/validate-query.ts";
import type pg from "pg";
import { createWebhook, deleteWebhook, getWebhook, listDeliveries, listWebhooks } from "./store.ts";
import { MAX_WEBHOOK_URL_LENGTH, WEBHOOK_NOTIFY, webhookUrlProblem } from "./url.ts";

/** A registration is a URL and two short fields. */
const MAX_WEBHOOK_BODY_BYTES = 8 * 1024;

const CreateWebhook = (allowPrivate: boolean) =>
  v.strictObject(
    {
      url: v.pipe(
        v.string("must be a string"),
        v.rawCheck(({ dataset, addIssue }) => {
          const reason = dataset.typed ? webhookUrlProblem(dataset.value, allowPrivate) : undefined;
          if (reason) addIssue({ message: reason });
        }),
      ),
      notify: v.optional(v.picklist(WEBHOOK_NOTIFY, `must be one of ${WEBHOOK_NOTIFY.join(", ")}`), "failures"),
      secret: v.optional(v.pipe(v.string("must be a string"), v.regex(/^[\x21-\x7e]{16,200}$/, "must be 16 to 200 printable characters without spaces"))),
    },
    "is not a known field (url, notify, secret)",
  );

const DeliveriesQuery = v.strictObject(
  {
    limit: v.optional(
      v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number"), v.transform(Number), v.minValue(1, "must be at least 1"), v.maxValue(1000, "must be at most 1000")),
      "100",
    ),
    before: v.optional(v.pipe(v.string(), v.regex(/^[1-9]\d{0,15}$/, "must be a delivery_id"), v.transform(Number))),
  },
  "is not a known parameter (limit, before)",
);

const webhookId = (text: string) => {
  const id = idParam(text);
  if (id === undefined) throw new Problem(404, `no webhook ${text}`);
  return id;
};

/** POST/GET/DELETE /v1/webhooks and GET /v1/webhooks/{id}/deliveries (ingest scope: app.ts). */
export function webhookRoutes(pool: pg.Pool, allowPrivateUrls: boolean) {
  const schema = CreateWebhook(allowPrivateUrls);
  const limit = bodyLimit({
    maxSize: MAX_WEBHOOK_BODY_BYTES,
    onError: () => {
      throw new Problem(413, `a webhook registration is at most ${MAX_WEBHOOK_BODY_BYTES} bytes`);
    },
  });
  return new Hono()
    .post(
      "/v1/webhooks",
      describeRoute({
        tags: ["webhooks"],
        summary: "Register an endpoint for signed POSTs of failed and lost jobs (notify: all, every finished job)",
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: {
                ...(jsonSchemaOf(schema) as object),
                description: `url: http(s), at most ${MAX_WEBHOOK_URL_LENGTH} characters, no credentials or fragment, no loopback or private address unless WEBHOOK_ALLOW_PRIVATE_URLS; secret: generated when not given`,
              },
            },
          },
        },
        responses: { 201: WEBHOOK_CREATED_RESPONSE, 400: problem("A bad field, named"), 413: problem("Body too large"), 415: problem("Not JSON"), 503: UNAVAILABLE },
      }),
      limit,
      async (c) => {
        const body = await jsonBody(c);
        const result = v.safeParse(schema, body);
        if (!result.success) {
          const issue = result.issues[0];
          const field = issue.path?.map((item) => String(item.key)).join(".") ?? "body";
          throw new Problem(400, `field ${field}: ${issue.message}`, { field });
        }
        const secret = result.output.secret ?? `whsec_${randomBytes(24).toString("base64url")}`;
        const created = await createWebhook(pool, { url: result.output.url, notify: result.output.notify, secret });
        c.header("location", `/v1/webhooks/${created.webhook_id}`);
        return c.json({ ...created, secret }, 201);
      },
    )
    .get(
      "/v1/webhooks",
      describeRoute({ tags: ["webhooks"], summary: "Every endpoint (configured and registered), without secrets", responses: { 200: WEBHOOK_LIST_RESPONSE, 503: UNAVAILABLE } }),
      async (c) => c.json({ webhooks: await listWebhooks(pool) }),
    )
    .get(
      "/v1/webhooks/:id",
      describeRoute({ tags: ["webhooks"], summary: "One endpoint", parameters: [ID_PARAMETER], responses: { 200: WEBHOOK_RESPONSE, 404: problem("No such webhook"), 503: UNAVAILABLE } }),
      async (c) => {
        const found = await getWebhook(pool, webhookId(c.req.param("id")));
        if (!found) throw new Problem(404, `no webhook ${c.req.param("id")}`);
        return c.json(found);
      },
    )
    .delete(
      "/v1/webhooks/:id",
      describeRoute({
        tags: ["webhooks"],
        summary: "Delete a registered endpoint and its delivery history; deliveries not yet made are dropped",
        parameters: [ID_PARAMETER],
        responses: { 204: { description: "Deleted" }, 404: problem("No such webhook"), 409: problem("Configured by WEBHOOK_URLS"), 503: UNAVAILABLE },
      }),
      async (c) => {
        const outcome = await deleteWebhook(pool, webhookId(c.req.param("id")));
        if (outcome === "missing") throw new Problem(404, `no webhook ${c.req.param("id")}`);
        if (outcome === "configured") throw new Problem(409, `webhook ${c.req.param("id")} comes from WEBHOOK_URLS: remove it there`);
        return c.body(null, 204);
      },
    )
    .get(
      "/v1/webhooks/:id/deliveries",
      describeRoute({
        tags: ["webhooks"],
        summary: "An endpoint's delivery attempts, newest first (kept with their jobs)",
        parameters: [ID_PARAMETER, ...queryParameters(DeliveriesQuery, { before: "the last delivery_id of the previous page" })],
        responses: { 200: DELIVERY_LIST_RESPONSE, 400: problem("A bad query parameter, named"), 404: problem("No such webhook"), 503: UNAVAILABLE },
      }),
      async (c) => {
        const id = webhookId(c.req.param("id"));
        const query = validateQuery(c, DeliveriesQuery);
        if (!(await getWebhook(pool, id))) throw new Problem(404, `no webhook ${c.req.param("id")}`);
        return c.json({ deliveries: await listDeliveries(pool, id, query.limit, query.before) });
      },
    );
}
