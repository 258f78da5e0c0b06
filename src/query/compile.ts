import { CONTRIBUTIONS, rollupRows, type Sum } from "../rollup/rollups.ts";
import type { Filter, Query, Value } from "./dsl.ts";
import { DIMENSIONS, MEASURES } from "./members.ts";
import type { ChosenRollup } from "./source.ts";

export type Compiled = { sql: string; params: unknown[]; columns: string[] };

const SQL_OPERATORS = { equals: "=", not_equals: "<>", gt: ">", gte: ">=", lt: "<", lte: "<=" } as const;

/**
 * A checked query → one SELECT over rides or a rollup. Every value (times, zone,
 * granularity, filter values, limit) is a bound parameter; every identifier comes from
 * the member allowlist, so nothing from the request is ever spliced into the SQL text.
 */
export function compileQuery(query: Query, rollup: ChosenRollup | undefined): Compiled {
  const params: unknown[] = [];
  const param = (value: unknown) => `$${params.push(value)}`;
  const { time } = query;

  const timeColumn = rollup ? rollup.grain : time.field;
  const sum = (name: Sum) => `coalesce(sum(${rollup ? name : CONTRIBUTIONS[name]}), 0)`;
  const grouped = time.granularity !== undefined || query.dimensions.length > 0;
  // rides too: the HAVING below reads it.
  const sumsRead = [...new Set<Sum>(["rides", ...query.measures.flatMap((m) => MEASURES[m].sums)])];
  const from = param(new Date(time.from));
  const to = param(new Date(time.to));
  // date_trunc(granularity, column, tz), with the two values bound once and only if used.
  const bound: { granularity?: string; tz?: string } = {};
  const trunc = (column: string) =>
    `date_trunc(${(bound.granularity ??= param(time.granularity))}, ${column}, ${(bound.tz ??= param(time.tz))})`;
  const select = [
    // The router checked that a rollup's hours (days) start where tz's do: its column is the bucket.
    ...(time.granularity ? [`${rollup?.grain === time.granularity ? timeColumn : trunc(timeColumn)} AS "time"`] : []),
    ...query.dimensions.map((d) => `${column(d)} AS "${d}"`),
    ...query.measures.map((m) => `${MEASURES[m].formula(sum)} AS "${m}"`),
  ];
  const keys = [...(time.granularity ? ["time"] : []), ...query.dimensions];
  const where = [
    ...(rollup ? [] : [`${timeColumn} >= ${from}`, `${timeColumn} < ${to}`]),
    ...query.filters.map((f) => filterSql(f, param)),
  ];
  // A rollup group whose rides all moved away (a resend) keeps a row of zeros; rides has no such group.
  const having = rollup && grouped ? `\nHAVING sum(rides) > 0` : "";
  const aggregate = `SELECT ${select.join(", ")}
FROM ${rollup ? `(\n  ${rollupRows(rollup, sumsRead, from, to, param(rollup.zone))}\n) ${rollup.table}` : "rides"}${where.length > 0 ? `\nWHERE ${where.join("\n  AND ")}` : ""}${grouped ? `\nGROUP BY ${keys.map((_, i) => i + 1).join(", ")}` : ""}${having}`;

  const order = [
    ...query.order.map((o) => `"${o.member}" ${o.direction === "desc" ? "DESC" : "ASC"} NULLS LAST`),
    // The group key breaks ties, so equal answers list their rows in the same order.
    ...keys.map((k) => `"${k}" ASC NULLS FIRST`),
  ];
  const tail = `${order.length > 0 ? `\nORDER BY ${order.join(", ")}` : ""}\nLIMIT ${param(query.limit)}`;
  const columns = [...keys, ...query.measures];

  if (!query.fillGaps || !time.granularity) return { sql: aggregate + tail, params, columns };

  // Every bucket the range touches: truncate an hourly walk over it (and its last
  // instant) in the query's zone, which stays right across DST and half-hour offsets.
  const buckets = `SELECT DISTINCT ${trunc("t")} AS "time"
  FROM (SELECT generate_series(${from}::timestamptz, ${to}::timestamptz - interval '1 microsecond', interval '1 hour')
        UNION ALL SELECT ${to}::timestamptz - interval '1 microsecond') walk(t)`;
  const dims = query.dimensions.map((d) => `"${d}"`);
  const filled = query.measures.map((m) => (MEASURES[m].kind === "count" ? `coalesce(r."${m}", 0) AS "${m}"` : `r."${m}"`));
  const sql = `WITH result AS (
${aggregate}
), buckets AS (
${buckets}
)
SELECT b."time", ${[...dims.map((d) => `c.${d}`), ...filled].join(", ")}
FROM buckets b${dims.length > 0 ? `\nCROSS JOIN (SELECT DISTINCT ${dims.join(", ")} FROM result) c` : ""}
LEFT JOIN result r ON r."time" = b."time"${dims.map((d) => ` AND r.${d} IS NOT DISTINCT FROM c.${d}`).join("")}${tail}`;
  return { sql, params, columns };
}

/** The column of a dimension, looked up in the allowlist (never the request's string). */
function column(name: string): string {
  if (!Object.hasOwn(DIMENSIONS, name)) throw new Error(`not a dimension: ${name}`);
  return name;
}

function filterSql(filter: Filter, param: (value: unknown) => string): string {
  if ("and" in filter) return `(${filter.and.map((f) => filterSql(f, param)).join(" AND ")})`;
  if ("or" in filter) return `(${filter.or.map((f) => filterSql(f, param)).join(" OR ")})`;
  const col = column(filter.member);
  const values: Value[] = filter.values;
  const arrayType = DIMENSIONS[filter.member] === "integer" ? "int[]" : "boolean[]";
  switch (filter.operator) {
    case "in":
      return `${col} = ANY(${param(values)}::${arrayType})`;
    case "not_in":
      return `${col} <> ALL(${param(values)}::${arrayType})`;
    case "between":
      return `${col} BETWEEN ${param(values[0])} AND ${param(values[1])}`;
    case "is_null":
      return `${col} IS NULL`;
    case "is_not_null":
      return `${col} IS NOT NULL`;
    default:
      return `${col} ${SQL_OPERATORS[filter.operator]} ${param(values[0])}`;
  }
}
