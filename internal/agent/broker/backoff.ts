/**
 * Reconnect delays: exponential from 250 ms, capped at 20 s (SPEC §10), with full-range
 * jitter over the upper half so a fleet that lost its broker at once does not come back
 * in lockstep.
 */

/** Longest wait between two connection attempts. */
export const MAX_BACKOFF_MS = 20_000;

/** Delay before attempt `attempt` (0-based); `random` in [0, 1). */
export function backoffMs(attempt: number, random: number = Math.random()): number {
  const base = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(attempt, 16));
  return Math.round(base / 2 + (base / 2) * random);
}
