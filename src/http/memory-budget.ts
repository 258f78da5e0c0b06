/** Gives the bytes back; calling it again does nothing. */
export type Release = () => void;

/**
 * The bytes of request bodies this process holds at once (read, parsed, waiting to be
 * staged), shared by every intake: what does not fit waits for room or is refused before
 * it is read, so memory is bounded by the budget however many senders stall or pile up.
 */
export function createMemoryBudget(limitBytes: number) {
  let reserved = 0;
  const waiting: Waiter[] = [];
  return {
    limitBytes,
    /** Bytes reserved right now. */
    reserved: () => reserved,
    /** Reservations waiting for room right now. */
    waiting: () => waiting.length,
    /** Why a request's bytes were refused, for its 503. */
    refusal: () =>
      `the service already holds ${reserved} bytes of request bodies (INTAKE_MEMORY_BUDGET_BYTES ${limitBytes}); nothing from this request was accepted, retry later`,
    tryReserve,
    /**
     * Reserves bytes, waiting up to waitMs for them to fit; undefined if they did not by
     * then, or if `abandoned` fired first (the sender went away). Whenever bytes are given
     * back, those waiting are let in in arrival order, each that fits.
     */
    reserve(bytes: number, waitMs: number, abandoned?: AbortSignal): Promise<Release | undefined> {
      const now = tryReserve(bytes);
      if (now || waitMs <= 0 || bytes > limitBytes || abandoned?.aborted) return Promise.resolve(now);
      return new Promise((resolve) => {
        const settle = (release: Release | undefined) => {
          clearTimeout(timer);
          abandoned?.removeEventListener("abort", giveUp);
          resolve(release);
        };
        const waiter: Waiter = { bytes, admit: settle };
        // Runs only while the waiter is listed: admitting it cancels both the timer and the listener.
        const giveUp = () => {
          waiting.splice(waiting.indexOf(waiter), 1);
          settle(undefined);
        };
        const timer = setTimeout(giveUp, waitMs);
        abandoned?.addEventListener("abort", giveUp, { once: true });
        waiting.push(waiter);
      });
    },
  };

  /** Reserves bytes if they fit, and returns how to give them back; undefined if they do not fit. */
  function tryReserve(bytes: number): Release | undefined {
    if (bytes < 0 || reserved + bytes > limitBytes) return undefined;
    reserved += bytes;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      reserved -= bytes;
      admitWaiting();
    };
  }

  function admitWaiting() {
    for (let i = 0; i < waiting.length; ) {
      const release = tryReserve(waiting[i].bytes);
      if (!release) {
        i++;
        continue;
      }
      const [waiter] = waiting.splice(i, 1);
      waiter.admit(release);
    }
  }
}

type Waiter = { bytes: number; admit: (release: Release) => void };

export type MemoryBudget = ReturnType<typeof createMemoryBudget>;
