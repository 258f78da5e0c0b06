import { describe, expect, it } from "vitest";
import { splitFile } from "../../src/cli/batches.ts";

describe("splitFile", () => {
  it("cuts CSV by record, repeating the header and keeping quoted newlines and CRLF", () => {
    const text = 'id,note\r\n1,"two\nlines"\r\n2,b\r\n3,c';
    const split = splitFile("x.CSV", text, 2);
    expect(split).toEqual({
      contentType: "text/csv",
      total: 3,
      batches: [
        { body: 'id,note\r\n1,"two\nlines"\r\n2,b\r\n', rides: 2, firstRow: 0 },
        { body: "id,note\r\n3,c\n", rides: 1, firstRow: 2 },
      ],
    });
  });

  it("cuts NDJSON by line and JSON by array item; a single JSON object is one ride", () => {
    expect(splitFile("a.ndjson", '{"id":1}\n\n{"id":2}\n{"id":3}\n', 2).batches.map((b) => b.body)).toEqual([
      '{"id":1}\n{"id":2}\n',
      '{"id":3}\n',
    ]);
    expect(splitFile("a.json", '[{"id":1},{"id":2},{"id":3}]', 2).batches.map((b) => b.body)).toEqual(['[{"id":1},{"id":2}]', '[{"id":3}]']);
    expect(splitFile("a.json", '{"id":1}', 2)).toMatchObject({ total: 1, contentType: "application/json" });
  });

  it("refuses a file whose format it cannot tell", () => {
    expect(() => splitFile("rides.txt", "", 10)).toThrow(/name it .csv, .ndjson \(or .jsonl\) or .json/);
  });
});
