import { readFileSync, writeFileSync } from "node:fs";
import { expect, it } from "vitest";
import { post } from "../support/service.ts";
import { withSampleRides } from "./sample-service.ts";

/**
 * The worked examples in docs/query-dsl.md run against the sample CSV: each answer in
 * the document must be what the service answers. `UPDATE_DOCS=1` writes the answers in.
 */
const DOC = new URL("../../docs/query-dsl.md", import.meta.url);
const EXAMPLE = /```json query\n([\s\S]*?)\n```(\s*\n[\s\S]*?)```json answer\n([\s\S]*?)```/g;

const sample = withSampleRides();

function format(body: { columns: string[]; rows: unknown[][]; source: string; labels?: unknown }): string {
  const rows = body.rows.map((row) => `    ${JSON.stringify(row)}`).join(",\n");
  const labels = body.labels ? `,\n  "labels": ${JSON.stringify(body.labels)}` : "";
  return `{\n  "columns": ${JSON.stringify(body.columns)},\n  "source": "${body.source}",\n  "rows": [\n${rows}\n  ]${labels}\n}\n`;
}

it("docs/query-dsl.md shows the real answers to its ten examples", async () => {
  const text = readFileSync(DOC, "utf8");
  const examples = [...text.matchAll(EXAMPLE)];
  expect(examples).toHaveLength(10);
  const answers: string[] = [];
  for (const [, query] of examples) {
    const { status, body } = await post(sample.service.url, query, "application/json", "/v1/query");
    expect(status, JSON.stringify(body)).toBe(200);
    answers.push(format(body));
  }
  if (process.env.UPDATE_DOCS === "1") {
    let i = 0;
    writeFileSync(DOC, text.replace(EXAMPLE, (_, query, between) => `\`\`\`json query\n${query}\n\`\`\`${between}\`\`\`json answer\n${answers[i++]}\`\`\``));
  } else {
    expect(examples.map((m) => m[3])).toEqual(answers);
  }
});
