import { type FieldError, RIDE_FIELDS } from "../ride.ts";
import { type Candidate, UnreadableBody } from "./candidate.ts";
import { lostValue } from "./json-text.ts";

const PRODUCER_TIME = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2})$/;
/** UTF-8 bytes of one line, its LF or CRLF not counted. */
export const MAX_LINE_BYTES = 4096;

/**
 * The producer's CSV: a header naming every ride field (any case, any order), `NULL`
 * for empty, 0/1 flags and `M/D/YYYY H:MM` wall-clock times. Each row becomes the
 * same object a JSON sender would post, so one schema validates every format.
 *
 * RFC 4180 with one restriction: a record is one line (LF or CRLF; blank lines are
 * skipped), so a quoted field cannot hold a line break. No ride field holds one, and
 * reading line by line makes every ride its own entry: a stray quote spoils its line
 * only instead of swallowing the rides after it into one record.
 */
export function parseCsv(text: string): Candidate[] {
  const bom = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const lines = (bom ? text.slice(1) : text).split("\n");
  let columns: string[] | undefined;
  const candidates: Candidate[] = [];
  let lineStart = bom;
  for (let i = 0; i < lines.length; lineStart += lines[i].length + 1, i++) {
    const line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    if (line === "") continue;
    const at = { from: lineStart, to: lineStart + line.length };
    const number = i + 1;
    // Bytes, not characters: a UTF-8 character is 1 to 4 of them (and a UTF-16 unit at most 3).
    if (line.length * 3 > MAX_LINE_BYTES && Buffer.byteLength(line) > MAX_LINE_BYTES) {
      throw new UnreadableBody(`CSV line ${number} is longer than ${MAX_LINE_BYTES} bytes; a ride's line is far shorter`);
    }
    if (line.includes("\r")) {
      throw new UnreadableBody(`CSV line ${number} holds a carriage return that does not end a line; lines end in LF or CRLF`);
    }
    const cells = line.includes('"') ? splitQuoted(line) : line.split(",");
    if (!columns) {
      if (typeof cells === "string") throw new UnreadableBody(`CSV header (line ${number}): ${cells}`);
      columns = readHeader(cells);
      continue;
    }
    if (typeof cells === "string") {
      candidates.push({ errors: [{ path: "", message: `line ${number}: ${cells}` }], id: idIn(line.split(","), columns), ...at });
    } else if (cells.length !== columns.length) {
      const message = `line ${number} has ${cells.length} fields, the header has ${columns.length}`;
      candidates.push({ errors: [{ path: "", message }], id: idIn(cells, columns), ...at });
    } else {
      candidates.push({ ...rowCandidate(columns, cells), ...at });
    }
  }
  if (!columns) throw new UnreadableBody("the CSV body is empty: it needs a header row");
  return candidates;
}

function rowCandidate(columns: string[], cells: string[]): Candidate {
  const input: Record<string, unknown> = {};
  let errors: FieldError[] | undefined;
  for (let c = 0; c < columns.length; c++) {
    const cell = cells[c];
    // Up to 15 digits a decimal is read as written (see lostValue).
    const lost = cell.length > 15 && isNumber(cell) ? lostValue(cell) : undefined;
    if (lost) (errors ??= []).push({ path: columns[c], message: lost });
    input[columns[c]] = cellValue(cell);
  }
  return errors ? { input, errors } : { input };
}

/** The id a broken line still shows in its id column, so its rejection names the ride. */
function idIn(cells: string[], columns: string[]): number | undefined {
  const cell = cells[columns.indexOf("id")]?.replace(/^"|"$/g, "");
  return cell && /^\d{1,15}$/.test(cell) ? Number(cell) : undefined;
}

/** A line with quoted fields (RFC 4180: "" is a quote inside one) → its cells, or why it is not CSV. */
function splitQuoted(line: string): string[] | string {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let cell = "";
      let j = i + 1;
      for (;;) {
        const quote = line.indexOf('"', j);
        if (quote === -1) return `a quoted field is not closed on its line (a ride's fields never hold a line break)`;
        cell += line.slice(j, quote);
        if (line[quote + 1] !== '"') {
          j = quote + 1;
          break;
        }
        cell += '"';
        j = quote + 2;
      }
      if (j < line.length && line[j] !== ",") return `field ${cells.length + 1} has text after its closing quote`;
      cells.push(cell);
      i = j;
    } else {
      const comma = line.indexOf(",", i);
      const cell = line.slice(i, comma === -1 ? line.length : comma);
      if (cell.includes('"')) return `field ${cells.length + 1} holds a quote but is not quoted (quote the field and double the quote)`;
      cells.push(cell);
      i = comma === -1 ? line.length : comma;
    }
    if (i >= line.length) return cells;
    i++; // past the comma
    if (i === line.length) {
      cells.push("");
      return cells;
    }
  }
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

/** Whether a cell is a decimal (/^-?\d+(\.\d+)?$/), without a regular expression: every cell of every ride goes through it. */
function isNumber(cell: string): boolean {
  let i = cell.charCodeAt(0) === 0x2d ? 1 : 0;
  const digitsFrom = i;
  while (i < cell.length && isDigit(cell.charCodeAt(i))) i++;
  if (i === digitsFrom) return false;
  if (i === cell.length) return true;
  if (cell.charCodeAt(i) !== 0x2e) return false;
  const fractionFrom = ++i;
  while (i < cell.length && isDigit(cell.charCodeAt(i))) i++;
  return i > fractionFrom && i === cell.length;
}
const isDigit = (ch: number) => ch >= 0x30 && ch <= 0x39;

// The producer's times as ISO text, by cell: a batch repeats its minutes; bounded, as senders choose the cells.
const producerTimes = new Map<string, string>();
const PRODUCER_TIMES_KEPT = 50_000;

function cellValue(cell: string): unknown {
  if (cell === "NULL" || cell === "") return null;
  if (isNumber(cell)) return Number(cell);
  const known = producerTimes.get(cell);
  if (known !== undefined) return known;
  const time = PRODUCER_TIME.exec(cell);
  if (time) {
    const [, month, day, year, hour, minute] = time;
    const iso = `${year}-${month.padStart(2, "0")}-${day.padStart(2, "0")}T${hour.padStart(2, "0")}:${minute}`;
    if (producerTimes.size >= PRODUCER_TIMES_KEPT) producerTimes.clear();
    producerTimes.set(cell, iso);
    return iso;
  }
  return cell;
}
