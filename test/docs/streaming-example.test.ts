import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { withTestService } from "../support/service.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DOC = readFileSync(new URL("docs/streaming.md", `file://${ROOT}`), "utf8");
const block = (tag: string) => {
  const match = new RegExp("```" + tag + "\\n([\\s\\S]*?)```").exec(DOC);
  if (!match) throw new Error(`docs/streaming.md has no \`\`\`${tag} block`);
  return match[1];
};

const running = withTestService();

it("docs/streaming.md's example prints what the document says, against a real service", async () => {
  // Run from the repository, so the example's `import "ws"` finds the package as a producer's would.
  const output = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ["--input-type=module", "-e", block("js stream-example")],
      { cwd: ROOT, env: { ...process.env, RIDES_URL: running.service.url }, timeout: 30_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    ),
  );
  const printed = output.trim().split("\n");
  const documented = block("text stream-output").trim().split("\n");
  // Statuses may come between acks; the answers themselves keep frame order.
  expect([...printed].sort()).toEqual([...documented].sort());
  const answers = printed.filter((line) => line.startsWith('{"seq"'));
  expect(answers).toEqual(documented.filter((line) => line.startsWith('{"seq"')));
});
