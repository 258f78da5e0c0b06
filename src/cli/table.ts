const cell = (value: unknown) => (value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value));

/** Rows as an aligned text table under a header. */
export function table(columns: string[], rows: unknown[][]): string {
  const text = [columns, ...rows.map((row) => row.map(cell))];
  const widths = columns.map((_, i) => Math.max(...text.map((row) => (row[i] ?? "").length)));
  const line = (row: string[]) => row.map((value, i) => value.padEnd(widths[i])).join("  ").trimEnd();
  return [line(text[0]), widths.map((width) => "-".repeat(width)).join("  "), ...text.slice(1).map(line)].join("\n");
}
