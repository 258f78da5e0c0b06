import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";
import type { MemoryBudget, Release } from "./memory-budget.ts";
import { Problem, RETRY_AFTER_SECONDS } from "./problem.ts";

export type BodyLimits = { limitBytes: number; budget: MemoryBudget };
export type ReadBody = { body: Buffer; release: Release };

/**
 * A request body read from the socket within the per-request limit and the process's
 * memory budget. A declared Content-Length is checked and reserved whole before a byte
 * is read (Node's parser holds the body to that length); a chunked body is counted and
 * reserved as it arrives. The caller releases the bytes once it no longer holds them.
 */
export async function readBody(c: Context<{ Bindings: HttpBindings }>, { limitBytes, budget }: BodyLimits): Promise<ReadBody> {
  const tooLarge = () => new Problem(413, `the body is larger than ${limitBytes} bytes; split it into smaller batches`);
  const overBudget = () =>
    new Problem(
      503,
      budget.refusal(),
      {},
      // The body is left unread, so the connection cannot carry another request.
      { "retry-after": String(RETRY_AFTER_SECONDS), connection: "close" },
    );
  const releases: Release[] = [];
  const release = () => releases.forEach((giveBack) => giveBack());
  const reserve = (bytes: number) => {
    const giveBack = budget.tryReserve(bytes);
    if (!giveBack) throw overBudget();
    releases.push(giveBack);
  };

  const declared = c.req.header("content-length");
  const counted = declared === undefined || c.req.header("transfer-encoding") !== undefined;
  const length = counted ? 0 : Number(declared);
  if (length > limitBytes) throw tooLarge();
  reserve(length);

  const incoming = c.env.incoming;
  try {
    const body = await new Promise<Buffer>((resolve, reject) => {
      // A declared body is copied into one buffer of its length as it arrives: joining the
      // socket's chunks at the end would hold the body twice at its largest.
      const whole = counted || length === 0 ? undefined : Buffer.allocUnsafe(length);
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (settle: () => void) => {
        incoming.off("data", onData).off("end", onEnd).off("error", onClose).off("close", onClose);
        settle();
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        try {
          if (size > limitBytes) throw tooLarge();
          if (counted) reserve(chunk.length);
        } catch (problem) {
          finish(() => reject(problem));
          return;
        }
        if (whole) chunk.copy(whole, size - chunk.length);
        else chunks.push(chunk);
      };
      const onEnd = () =>
        finish(() => resolve(whole ? whole.subarray(0, size) : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
      // Cut off by the sender or by BODY_TIMEOUT_MS: nobody is left to read an answer.
      const onClose = () => finish(() => reject(new Problem(400, "the connection closed before the body arrived whole")));
      incoming.on("data", onData).on("end", onEnd).on("error", onClose).on("close", onClose);
      if (incoming.readableEnded) onEnd();
    });
    return { body, release };
  } catch (error) {
    release();
    throw error;
  }
}
