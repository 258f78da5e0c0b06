import { parse } from "csv-parse/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCsv } from "../../src/rides/formats/csv.ts";
import { SAMPLE_CSV } from "../support/service.ts";

const header = SAMPLE_CSV.split("\n")[0];
const firstRow = SAMPLE_CSV.split("\n")[1];

describe("reading the producer's CSV", () => {
  it("reads plain CSV exactly as csv-parse does", () => {
    const rows = parse(SAMPLE_CSV, { skip_empty_lines: true }) as string[][];
    const candidates = parseCsv(`\uFEFF${SAMPLE_CSV}\n\n`);
    expect(candidates).toHaveLength(rows.length - 1);
    // from and to: where the line is in the body (after the BOM), its raw text if it is rejected.
    const firstLine = 1 + header.length + 1;
    expect(candidates[0]).toEqual({
      input: expect.objectContaining({ id: 132512, from_date: "2013-01-01T02:00", package_id: null }),
      from: firstLine,
      to: firstLine + firstRow.replace(/\r$/, "").length,
    });
    expect(candidates.map((c) => ("input" in c ? (c.input as { id: number }).id : null))).toEqual(rows.slice(1).map((row) => Number(row[0])));
  });

  it("reads quoted cells and CRLF line ends like plain ones", () => {
    const quoted = firstRow.split(",").map((cell) => `"${cell}"`).join(",");
    const body = `${header}\r\n${quoted}\r\n`;
    const [read] = parseCsv(body);
    const { from, to, ...plain } = parseCsv(`${header}\n${firstRow}\n`)[0];
    expect(read).toEqual({ ...plain, from: expect.any(Number), to: expect.any(Number) });
    expect(body.slice(read.from, read.to)).toBe(quoted);
  });

  it("still names a line whose field count is off", () => {
    const body = `${header}\n1,2,3`;
    const [read] = parseCsv(body);
    expect(read).toEqual({ errors: [{ path: "", message: "line 2 has 3 fields, the header has 19" }], id: 1, from: header.length + 1, to: body.length });
  });

  it("reads a cell as a number exactly when it is a plain decimal, and a producer time the same whether seen before or not", () => {
    const columns = header.split(",");
    const at = (name: string) => columns.findIndex((column) => column.trim().toLowerCase() === name);
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("-", ".", "0", "1", "9", "e", "/", " ", ":"), maxLength: 20 }), (cell) => {
        const cells = firstRow.split(",");
        cells[at("user_id")] = cell;
        cells[at("from_date")] = cell;
        const [first, read] = parseCsv(`${header}\n${cells.join(",")}\n${cells.join(",")}\n`);
        // The second line's text starts where the first's ends; all else is read alike.
        expect({ ...read, from: 0, to: 0 }).toEqual({ ...first, from: 0, to: 0 });
        const expected = cell === "" ? null : /^-?\d+(\.\d+)?$/.test(cell) ? Number(cell) : cell;
        const input = (read as { input: Record<string, unknown> }).input;
        expect(input.user_id).toBe(expected);
        if (typeof expected !== "string" || !/^\d{1,2}\/\d{1,2}\/\d{4} \d{1,2}:\d{2}$/.test(cell)) expect(input.from_date).toBe(expected);
      }),
      { numRuns: 5_000 },
    );
  });
});
