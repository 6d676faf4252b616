/**
 * Summary statistics of bench samples. Percentiles use the nearest-rank method on a
 * sorted copy, so p50 of an even count is the lower middle sample, never an average that
 * no run produced.
 */

/** The p-th percentile (0–100) by nearest rank; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Run one agent and one raw sample, flipping which goes first every round (no order bias). */
export async function alternate(i: number, agent: () => Promise<void>, raw: () => Promise<void>): Promise<void> {
  if (i % 2 === 0) {
    await agent();
    await raw();
  } else {
    await raw();
    await agent();
  }
}

/** The median (p50 by nearest rank). */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Arithmetic mean; NaN for no samples. */
export function mean(samples: readonly number[]): number {
  return samples.length === 0 ? Number.NaN : samples.reduce((a, b) => a + b, 0) / samples.length;
}

/** Resolves after `ms` (between samples only, never to wait for an event that can be awaited). */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` every `everyMs` until it returns true; throws after `timeoutMs` naming `what`. */
export async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 60_000, everyMs = 10): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await pause(everyMs);
  }
}
