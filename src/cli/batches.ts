import { extname } from "node:path";
import { parse } from "csv-parse/sync";

export type Batch = { body: string; rides: number; firstRow: number };
export type SplitFile = { contentType: string; total: number; batches: Batch[] };

const withNewline = (line: string) => (line.endsWith("\n") ? line : `${line}\n`);

function chunk<T>(items: T[], size: number, toBatch: (items: T[], firstRow: number) => Batch): Batch[] {
  const batches: Batch[] = [];
  for (let start = 0; start < items.length; start += size) batches.push(toBatch(items.slice(start, start + size), start));
  return batches;
}

/**
 * A file of rides cut into request bodies of at most `size` rides each, in its own
 * format: the service parses and validates every format itself, so the CLI only splits
 * (CSV by record, keeping quoted newlines and the header on every batch).
 */
export function splitFile(path: string, text: string, size: number): SplitFile {
  const extension = extname(path).toLowerCase();
  if (extension === ".csv") {
    // raw: each record as written, so a batch re-sends exactly what the file says.
    const records = parse(text, { raw: true, bom: true, skip_empty_lines: true, relax_column_count: true }) as unknown as { raw: string }[];
    const [header, ...rows] = records.map((record) => withNewline(record.raw));
    if (header === undefined) throw new Error(`${path} is empty: a CSV file needs a header row`);
    const batches = chunk(rows, size, (items, firstRow) => ({ body: header + items.join(""), rides: items.length, firstRow }));
    return { contentType: "text/csv", total: rows.length, batches };
  }
  if (extension === ".ndjson" || extension === ".jsonl") {
    const lines = text.split("\n").filter((line) => line.trim() !== "");
    const batches = chunk(lines, size, (items, firstRow) => ({ body: `${items.join("\n")}\n`, rides: items.length, firstRow }));
    return { contentType: "application/x-ndjson", total: lines.length, batches };
  }
  if (extension === ".json") {
    const parsed: unknown = JSON.parse(text);
    const rides = Array.isArray(parsed) ? parsed : [parsed];
    const batches = chunk(rides, size, (items, firstRow) => ({ body: JSON.stringify(items), rides: items.length, firstRow }));
    return { contentType: "application/json", total: rides.length, batches };
  }
  throw new Error(`cannot tell the format of ${path}: name it .csv, .ndjson (or .jsonl) or .json`);
}
