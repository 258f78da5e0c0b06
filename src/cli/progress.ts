const WIDTH = 30;

/** A progress bar on a terminal (redrawn in place); one line per step when the output is a file or a pipe. */
export function progressBar(stream: NodeJS.WriteStream, total: number, unit: string) {
  let done = 0;
  return {
    advance(by: number, note = "") {
      done += by;
      const share = total === 0 ? 1 : done / total;
      const filled = Math.round(share * WIDTH);
      const line = `[${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${String(Math.round(share * 100)).padStart(3)}% ${done}/${total} ${unit}${note ? ` ${note}` : ""}`;
      if (stream.isTTY) stream.write(`\r${line}\x1b[K${done >= total ? "\n" : ""}`);
      else stream.write(`${line}\n`);
    },
  };
}
