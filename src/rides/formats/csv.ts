import { parse } from "csv-parse/sync";
import { RIDE_FIELDS } from "../ride.ts";
import { type Candidate, UnreadableBody } from "./candidate.ts";

const PRODUCER_TIME = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2})$/;
const NUMBER = /^-?\d+(\.\d+)?$/;
const MAX_LINE_BYTES = 4096;

/**
 * The producer's CSV: a header naming every ride field (any case, any order), `NULL`
 * for empty, 0/1 flags and `M/D/YYYY H:MM` wall-clock times. Each row becomes the
 * same object a JSON sender would post, so one schema validates every format.
 */
export function parseCsv(text: string): Candidate[] {
  const rows = splitPlainCsv(text) ?? parseQuotedCsv(text);
  if (rows.length === 0) throw new UnreadableBody("the CSV body is empty: it needs a header row");
  const columns = readHeader(rows[0]);
  return rows.slice(1).map((row, i) => {
    if (row.length !== columns.length) {
      return { errors: [{ path: "", message: `row ${i + 2} has ${row.length} fields, the header has ${columns.length}` }] };
    }
    const input: Record<string, unknown> = {};
    for (let c = 0; c < columns.length; c++) input[columns[c]] = cellValue(row[c]);
    return { input };
  });
}

function parseQuotedCsv(text: string): string[][] {
  try {
    return parse(text, { bom: true, relax_column_count: true, skip_empty_lines: true, max_record_size: MAX_LINE_BYTES });
  } catch (error) {
    const { code, lines } = error as { code?: string; lines?: number };
    if (code === "CSV_MAX_RECORD_SIZE") {
      throw new UnreadableBody(`CSV line ${lines} is longer than ${MAX_LINE_BYTES} bytes; a ride's line is far shorter`);
    }
    throw new UnreadableBody(`the body is not valid CSV: ${(error as Error).message}`);
  }
}

/**
 * The producer's CSV never quotes, and without quotes (or carriage returns) CSV is just
 * lines of comma-separated cells: splitting reads it in a third of csv-parse's time
 * (csv-parse was half of a 1,000-ride CSV request's CPU). Anything else, or an
 * over-long line, is left to csv-parse (undefined), which also words the errors.
 */
function splitPlainCsv(text: string): string[][] | undefined {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.includes('"') || body.includes("\r")) return undefined;
  const rows: string[][] = [];
  for (const line of body.split("\n")) {
    if (line.length > MAX_LINE_BYTES) return undefined;
    if (line !== "") rows.push(line.split(","));
  }
  return rows;
}

function readHeader(header: string[]): string[] {
  const columns = header.map((name) => name.trim().toLowerCase());
  const known = new Set<string>(RIDE_FIELDS);
  const seen = new Set<string>();
  for (const column of columns) {
    if (!known.has(column)) throw new UnreadableBody(`CSV column "${column}" is not a ride field`);
    if (seen.has(column)) throw new UnreadableBody(`CSV column "${column}" appears twice`);
    seen.add(column);
  }
  const missing = RIDE_FIELDS.filter((field) => !seen.has(field));
  if (missing.length > 0) throw new UnreadableBody(`CSV header lacks ${missing.join(", ")}`);
  return columns;
}

function cellValue(cell: string): unknown {
  if (cell === "NULL" || cell === "") return null;
  if (NUMBER.test(cell)) return Number(cell);
  const time = PRODUCER_TIME.exec(cell);
  if (time) {
    const [, month, day, year, hour, minute] = time;
    return `${year}-${month.padStart(2, "0")}-${day.padStart(2, "0")}T${hour.padStart(2, "0")}:${minute}`;
  }
  return cell;
}
