import * as v from "valibot";
import { isTimeZone } from "../config.ts";
import { Problem } from "../http/problem.ts";
import { clip, parseTime } from "../rides/time.ts";
import {
  DIMENSION_NAMES,
  DIMENSIONS,
  type Dimension,
  GRANULARITIES,
  MEASURE_NAMES,
  type MeasureName,
  OPERATORS,
  type Operator,
  TIME_FIELDS,
} from "./members.ts";

export type Value = number | boolean;
export type Filter = { member: Dimension; operator: Operator; values: Value[] } | { and: Filter[] } | { or: Filter[] };
export type Query = {
  measures: MeasureName[];
  dimensions: Dimension[];
  time: {
    field: (typeof TIME_FIELDS)[number];
    granularity?: (typeof GRANULARITIES)[number];
    from: number;
    to: number;
    tz: string;
  };
  filters: Filter[];
  order: { member: string; direction: "asc" | "desc" }[];
  limit: number;
  fillGaps: boolean;
};

export type QueryLimits = { maxSpanDays: number; maxRows: number; defaultZone: string };

/** Nesting and size caps keep a hostile filter tree from costing more than a real one. */
const MAX_FILTER_DEPTH = 5;
const MAX_FILTER_LEAVES = 100;
const MAX_IN_VALUES = 1000;
const INT4 = 2 ** 31;

const oneOf = (what: string, names: readonly string[]) => (issue: v.BaseIssue<unknown>) =>
  `${issue.received} is not ${what}; use one of ${names.join(", ")}`;
const known = (names: string) => (issue: v.BaseIssue<unknown>) =>
  issue.expected === "never"
    ? `is not a known field (${names})`
    : issue.received === "undefined" ? "is required" : `must be an object, not ${issue.received}`;
const list = <T extends v.GenericSchema>(item: T, what: string) =>
  v.array(item, (issue) => `must be a list of ${what}, not ${issue.received}`);

const Leaf = v.strictObject(
  {
    member: v.picklist(DIMENSION_NAMES, oneOf("a dimension", DIMENSION_NAMES)),
    operator: v.picklist(OPERATORS, oneOf("an operator", OPERATORS)),
    values: v.optional(list(v.union([v.number(), v.boolean()], (i) => `${i.received} is not a number or boolean`), "values"), []),
  },
  known("member, operator, values"),
);

const FilterSchema: v.GenericSchema<unknown, Filter> = v.lazy((input) => {
  if (input && typeof input === "object" && "and" in input) {
    return v.strictObject({ and: v.pipe(list(FilterSchema, "filters"), v.minLength(1, "must hold at least one filter")) }, known("and"));
  }
  if (input && typeof input === "object" && "or" in input) {
    return v.strictObject({ or: v.pipe(list(FilterSchema, "filters"), v.minLength(1, "must hold at least one filter")) }, known("or"));
  }
  return Leaf;
});

export const QuerySchema = v.strictObject(
  {
    measures: v.pipe(list(v.picklist(MEASURE_NAMES, oneOf("a measure", MEASURE_NAMES)), "measures"), v.minLength(1, "must name at least one measure")),
    dimensions: v.optional(list(v.picklist(DIMENSION_NAMES, oneOf("a dimension", DIMENSION_NAMES)), "dimensions"), []),
    time: v.strictObject(
      {
        field: v.optional(v.picklist(TIME_FIELDS, oneOf("a time field", TIME_FIELDS)), "from_date"),
        granularity: v.optional(v.picklist(GRANULARITIES, oneOf("a granularity", GRANULARITIES))),
        from: v.string("must be an ISO 8601 date-time"),
        to: v.string("must be an ISO 8601 date-time"),
        tz: v.optional(v.pipe(v.string("must be an IANA time zone"), v.check(isTimeZone, (i) => `${i.received} is not an IANA time zone such as Asia/Kolkata`))),
      },
      known("field, granularity, from, to, tz"),
    ),
    filters: v.optional(list(FilterSchema, "filters"), []),
    order: v.optional(
      list(
        v.strictObject(
          {
            member: v.string("must name a measure, dimension or time"),
            direction: v.optional(v.picklist(["asc", "desc"], oneOf("a direction", ["asc", "desc"])), "asc"),
          },
          known("member, direction"),
        ),
        "{member, direction}",
      ),
      [],
    ),
    limit: v.optional(v.pipe(v.number("must be a whole number"), v.integer("must be a whole number"), v.minValue(1, "must be at least 1"))),
    fill_gaps: v.optional(v.boolean("must be true or false"), false),
  },
  known("measures, dimensions, time, filters, order, limit, fill_gaps"),
);

const bad = (path: string, reason: string): never => {
  throw new Problem(400, `${path}: ${reason}`, { field: path });
};

/** A request body → a checked query, or a 400 whose detail names the field, member or operator at fault. */
export function parseQuery(input: unknown, limits: QueryLimits): Query {
  if (Array.isArray(input)) bad("query", "must be a JSON object");
  checkFilterDepth(input);
  const result = v.safeParse(QuerySchema, input);
  if (!result.success) {
    const issue = result.issues[0];
    bad(issue.path?.map((item) => String(item.key)).join(".") || "query", issue.message);
  }
  const q = (result as v.SafeParseResult<typeof QuerySchema> & { success: true }).output;

  const tz = q.time.tz ?? limits.defaultZone;
  const instant = (name: "from" | "to") => {
    const parsed = parseTime(q.time[name], tz);
    return parsed.ok ? parsed.instant : bad(`time.${name}`, parsed.message);
  };
  const from = instant("from");
  const to = instant("to");
  if (to <= from) bad("time.to", "must be after time.from (the range is half-open: from ≤ t < to)");
  if (to - from > limits.maxSpanDays * 86_400_000) bad("time.to", `the range spans more than ${limits.maxSpanDays} days`);

  unique(q.measures, "measures");
  unique(q.dimensions, "dimensions");
  let leaves = 0;
  const checkFilter = (filter: Filter, path: string) => {
    if ("and" in filter) return filter.and.forEach((f, i) => checkFilter(f, `${path}.and.${i}`));
    if ("or" in filter) return filter.or.forEach((f, i) => checkFilter(f, `${path}.or.${i}`));
    if (++leaves > MAX_FILTER_LEAVES) bad(path, `a query takes at most ${MAX_FILTER_LEAVES} filters`);
    checkValues(filter, path);
  };
  q.filters.forEach((f, i) => checkFilter(f, `filters.${i}`));

  const orderable = new Set<string>([...q.measures, ...q.dimensions, ...(q.time.granularity ? ["time"] : [])]);
  q.order.forEach((item, i) => {
    if (!orderable.has(item.member)) {
      bad(`order.${i}.member`, `"${clip(item.member)}" is not in this query; order by one of ${[...orderable].join(", ")}`);
    }
  });
  unique(q.order.map((item) => item.member), "order");
  if (q.limit !== undefined && q.limit > limits.maxRows) bad("limit", `must be at most ${limits.maxRows}`);
  if (q.fill_gaps && !q.time.granularity) bad("fill_gaps", "needs time.granularity (the buckets to fill)");

  return {
    measures: q.measures,
    dimensions: q.dimensions,
    time: { field: q.time.field, granularity: q.time.granularity, from, to, tz },
    filters: q.filters,
    order: q.order,
    limit: q.limit ?? limits.maxRows,
    fillGaps: q.fill_gaps,
  };
}

function unique(names: string[], path: string) {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (seen.has(name)) bad(`${path}.${i}`, `${name} is listed twice`);
    seen.add(name);
  });
}

/** How many values each operator takes, and which member types it applies to. */
const ARITY: Record<Operator, { min: number; max: number; ordered?: true }> = {
  equals: { min: 1, max: 1 },
  not_equals: { min: 1, max: 1 },
  in: { min: 1, max: MAX_IN_VALUES },
  not_in: { min: 1, max: MAX_IN_VALUES },
  gt: { min: 1, max: 1, ordered: true },
  gte: { min: 1, max: 1, ordered: true },
  lt: { min: 1, max: 1, ordered: true },
  lte: { min: 1, max: 1, ordered: true },
  between: { min: 2, max: 2, ordered: true },
  is_null: { min: 0, max: 0 },
  is_not_null: { min: 0, max: 0 },
};

function checkValues(filter: { member: Dimension; operator: Operator; values: Value[] }, path: string) {
  const { member, operator, values } = filter;
  const type = DIMENSIONS[member];
  const arity = ARITY[operator];
  if (arity.ordered && type !== "integer") bad(`${path}.operator`, `${operator} does not apply to ${member}, which is ${type}`);
  if (values.length < arity.min || values.length > arity.max) {
    const count = arity.min === arity.max ? `exactly ${arity.min}` : `${arity.min} to ${arity.max}`;
    bad(`${path}.values`, `${operator} takes ${count} value${arity.max === 1 ? "" : "s"}, not ${values.length}`);
  }
  values.forEach((value, i) => {
    const fits =
      type === "boolean" ? typeof value === "boolean" : typeof value === "number" && Number.isInteger(value) && value >= -INT4 && value < INT4;
    if (!fits) bad(`${path}.values.${i}`, `${JSON.stringify(value)} is not a ${type === "boolean" ? "boolean" : "32-bit integer"} (${member})`);
  });
  if (operator === "between" && (values[0] as number) > (values[1] as number)) bad(`${path}.values`, "between takes [low, high] with low ≤ high");
}

/** Rejects a filter tree nested deeper than any real query needs, before recursing into it. */
function checkFilterDepth(input: unknown) {
  const filters = (input as { filters?: unknown } | null)?.filters;
  let level: unknown[] = Array.isArray(filters) ? filters : [];
  for (let depth = 1; level.length > 0; depth++) {
    level = level.flatMap((f) => {
      const inner = f && typeof f === "object" ? ((f as { and?: unknown }).and ?? (f as { or?: unknown }).or) : undefined;
      return Array.isArray(inner) ? inner : [];
    });
    if (level.length > 0 && depth > MAX_FILTER_DEPTH) bad("filters", `and/or may nest at most ${MAX_FILTER_DEPTH} levels deep`);
  }
}
