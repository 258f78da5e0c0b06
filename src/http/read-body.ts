import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";
import type { MemoryBudget, Release } from "./memory-budget.ts";
import { Problem, RETRY_AFTER_SECONDS } from "./problem.ts";

export type BodyLimits = {
  limitBytes: number;
  budget: MemoryBudget;
  /** INTAKE_BUDGET_WAIT_MS: how long a declared body may wait for room in the budget before its 503. */
  budgetWaitMs: number;
};
export type ReadBody = { body: Buffer; release: Release };

/**
 * A request body read from the socket within the per-request limit and the process's
 * memory budget. A declared Content-Length is checked and reserved whole before a byte
 * is read (Node's parser holds the body to that length), waiting up to budgetWaitMs for
 * room; a chunked body is counted and reserved as it arrives, and refused at once when a
 * chunk does not fit (its size is not known ahead, so it cannot wait for room for all of
 * it). The caller releases the bytes once it no longer holds them.
 */
export async function readBody(c: Context<{ Bindings: HttpBindings }>, { limitBytes, budget, budgetWaitMs }: BodyLimits): Promise<ReadBody> {
  const tooLarge = () => new Problem(413, `the body is larger than ${limitBytes} bytes; split it into smaller batches`);
  const overBudget = () =>
    new Problem(
      503,
      budget.refusal(),
      {},
      // The body is left unread, so the connection cannot carry another request.
      { "retry-after": String(RETRY_AFTER_SECONDS), connection: "close" },
    );
  const incoming = c.env.incoming;
  // Cut off by the sender or by BODY_TIMEOUT_MS: nobody is left to read an answer.
  const cutOff = () => new Problem(400, "the connection closed before the body arrived whole");
  const releases: Release[] = [];
  const release = () => releases.forEach((giveBack) => giveBack());
  // While it waits its body stays in the socket (Node stops reading once one read of it,
  // up to 64 KB, waits unread), so a waiting sender costs its connection's buffers only.
  const roomFor = async (bytes: number): Promise<Release> => {
    if (incoming.destroyed) throw cutOff();
    const gone = new AbortController();
    const onGone = () => gone.abort();
    incoming.once("close", onGone);
    const giveBack = await budget.reserve(bytes, budgetWaitMs, gone.signal).finally(() => incoming.off("close", onGone));
    if (!giveBack) throw gone.signal.aborted ? cutOff() : overBudget();
    return giveBack;
  };
  const reserve = (bytes: number) => {
    const giveBack = budget.tryReserve(bytes);
    if (!giveBack) throw overBudget();
    releases.push(giveBack);
  };

  const declared = c.req.header("content-length");
  const counted = declared === undefined || c.req.header("transfer-encoding") !== undefined;
  const length = counted ? 0 : Number(declared);
  if (length > limitBytes) throw tooLarge();
  // Tried here first so a body that fits (nearly all) skips the wait's set-up.
  releases.push(budget.tryReserve(length) ?? (await roomFor(length)));

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
      const onClose = () => finish(() => reject(cutOff()));
      incoming.on("data", onData).on("end", onEnd).on("error", onClose).on("close", onClose);
      // Ended or gone while the request waited for room: neither event comes again.
      if (incoming.readableEnded) onEnd();
      else if (incoming.destroyed) onClose();
    });
    return { body, release };
  } catch (error) {
    release();
    throw error;
  }
}
