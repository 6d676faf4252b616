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
