/** Gives the bytes back; calling it again does nothing. */
export type Release = () => void;

/**
 * The bytes of request bodies this process holds at once (read, parsed, waiting to be
 * staged), shared by every intake: what does not fit is refused before it is read, so
 * memory is bounded by the budget however many senders stall or pile up.
 */
export function createMemoryBudget(limitBytes: number) {
  let reserved = 0;
  return {
    limitBytes,
    /** Bytes reserved right now. */
    reserved: () => reserved,
    /** Why a request's bytes were refused, for its 503. */
    refusal: () =>
      `the service already holds ${reserved} bytes of request bodies (INTAKE_MEMORY_BUDGET_BYTES ${limitBytes}); nothing from this request was accepted, retry later`,
    /** Reserves bytes if they fit, and returns how to give them back; undefined if they do not fit. */
    tryReserve(bytes: number): Release | undefined {
      if (bytes < 0 || reserved + bytes > limitBytes) return undefined;
      reserved += bytes;
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        reserved -= bytes;
      };
    },
  };
}

export type MemoryBudget = ReturnType<typeof createMemoryBudget>;
