import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { describeRoute } from "hono-openapi";
import * as v from "valibot";
import { jsonSchemaOf, problem, queryParameters, UNAVAILABLE } from "../docs/openapi.ts";
import { Problem } from "../http/problem.ts";
import { jsonBody } from "../http/media-type.ts";
import { validateQuery } from "../http/validate-query.ts";
import type { Analytics } from "./analytics.ts";
import { travelTypes } from "../rides/index.ts";
import { compileQuery } from "./compile.ts";
import { parseQuery, QuerySchema, type QueryLimits } from "./dsl.ts";
import { runQuery } from "./run.ts";
import type { RidesWindow } from "../retention/rides-window.ts";
import { chooseRollup } from "./source.ts";

export type QueryDeps = QueryLimits & { analytics: Analytics; rollupZone: string; timeoutMs: number; ridesWindow: RidesWindow };

/** A query is a few hundred bytes; the filter caps keep a real one far below this. */
const MAX_QUERY_BYTES = 65_536;

const Params = v.strictObject(
  { explain: v.optional(v.picklist(["0", "1"], "must be 0 or 1")) },
  "is not a known parameter (explain)",
);

/** The DSL's JSON Schema with its recursive filter inlined as a described object (OpenAPI has no local $defs). */
function querySchemaDoc() {
  const { $defs: _, ...schema } = jsonSchemaOf(QuerySchema) as Record<string, unknown>;
  return JSON.parse(
    JSON.stringify(schema).replaceAll(
      '{"$ref":"#/$defs/0"}',
      JSON.stringify({ type: "object", description: "{member, operator, values}, {and: [filter, ...]} or {or: [filter, ...]}" }),
    ),
  );
}

const QUERY_DOC = {
  tags: ["analytics"],
  summary: "Ask an analytics question (docs/query-dsl.md)",
  parameters: queryParameters(Params, { explain: "1 adds the SQL and its parameters" }),
  requestBody: { required: true, content: { "application/json": { schema: querySchemaDoc() } } },
  responses: {
    200: {
      description: "columns, rows (arrays in column order), source (rollup or rides), labels (names of travel_type_id values, when it is a dimension) and took_ms",
      content: { "application/json": { schema: { type: "object" as const } } },
    },
    400: problem("The query is invalid; detail names the member, operator or field at fault"),
    413: problem("The query is too large"),
    415: problem("Not application/json"),
    429: problem("Too many queries running and waiting (ANALYTICS_POOL_SIZE, QUERY_QUEUE_LIMIT); Retry-After says when to try again"),
    503: UNAVAILABLE,
  },
};

/** Names for the ids in an answer's dimension columns, from the reference tables (travel_types). */
function labelsFor(dimensions: string[]): { labels?: Record<string, Record<string, string>> } {
  if (!dimensions.includes("travel_type_id")) return {};
  return { labels: { travel_type_id: Object.fromEntries([...travelTypes().values()].map((type) => [type.id, type.name])) } };
}

/** POST /v1/query: the analytics DSL (docs/query-dsl.md), answered from a rollup when one covers it. */
export function queryRoutes(deps: QueryDeps) {
  const limit = bodyLimit({
    maxSize: MAX_QUERY_BYTES,
    onError: () => {
      throw new Problem(413, `the query is larger than ${MAX_QUERY_BYTES} bytes`);
    },
  });
  return new Hono().post("/v1/query", describeRoute(QUERY_DOC), limit, async (c) => {
    const { explain } = validateQuery(c, Params);
    const body = await jsonBody(c);
    const started = performance.now();
    const query = parseQuery(body, deps);
    const rollup = chooseRollup(query, deps.rollupZone);
    const keptFrom = rollup ? undefined : await deps.ridesWindow();
    // The rollups still answer for dropped months; a question only rides can answer cannot be, there.
    if (keptFrom !== undefined && (query.time.field !== "from_date" || query.time.from < keptFrom)) {
      throw new Problem(
        422,
        `this query needs raw rides (no rollup covers it) and rides before ${new Date(keptFrom).toISOString()} were dropped (RIDES_RETENTION_MONTHS): ` +
          "start time.from at or after that, by from_date, or ask what a rollup covers",
      );
    }
    const compiled = compileQuery(query, rollup);
    const rows = await deps.analytics.read((pool) => runQuery(pool, compiled, query.time.tz, deps.timeoutMs));
    return c.json({
      columns: compiled.columns,
      rows,
      source: rollup ? "rollup" : "rides",
      ...labelsFor(query.dimensions),
      took_ms: Math.round((performance.now() - started) * 10) / 10,
      ...(explain === "1" ? { sql: compiled.sql, params: compiled.params, ...(rollup ? { rollup: rollup.table } : {}) } : {}),
    });
  });
}
