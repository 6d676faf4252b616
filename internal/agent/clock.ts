/** Time source, injected so time logic is tested without sleeping (testcontainers' Clock). */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

/** The real wall clock. */
export const systemClock: Clock = { nowMs: () => Date.now() };

/** Whole Unix seconds of a clock. */
export function nowSeconds(clock: Clock): number {
  return Math.floor(clock.nowMs() / 1000);
}

/** RFC 3339 UTC rendering of epoch milliseconds. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/** Cancels a timer set by {@link Timers.set}; idempotent. */
export type CancelTimer = () => void;

/**
 * One-shot timers, injected next to the Clock so schedule logic is tested with a fake
 * clock. Delays run on the monotonic timeline: a wall-clock jump does not move them.
 */
export interface Timers {
  /** Call `fn` once after `ms` milliseconds. */
  set(fn: () => void, ms: number): CancelTimer;
}

/** Node's timers, unref'd so a pending timer never keeps the process alive. */
export const systemTimers: Timers = {
  set(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return () => clearTimeout(t);
  },
};
