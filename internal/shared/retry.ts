/**
 * Waiting between attempts, once for every layer: a backoff sequence, an abortable sleep
 * for loops that await, and a one-at-a-time timer for code that retries from a callback.
 * Lives under internal/shared (which imports nothing of the project) so the sandbox, the
 * audit log, the agent and the controller all use it without an upward import.
 */

/** A delay sequence: `firstMs`, then each delay times `factor` (rounded), never above `maxMs` after the first. */
export interface BackoffPolicy {
  readonly firstMs: number;
  readonly factor: number;
  readonly maxMs: number;
}

/** Successive delays of a BackoffPolicy; `reset()` after a success starts over. */
export class Backoff {
  private current: number;

  constructor(private readonly policy: BackoffPolicy) {
    this.current = policy.firstMs;
  }

  /** The delay to wait now; the following call answers the next one. */
  next(): number {
    const ms = this.current;
    this.current = Math.min(this.policy.maxMs, Math.round(this.current * this.policy.factor));
    return ms;
  }

  /** Back to the first delay. */
  reset(): void {
    this.current = this.policy.firstMs;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (it never rejects: the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * At most one pending run of a retry or a poll, on an unref'd timer (it never keeps the
 * process alive). `schedule` while one is pending keeps the pending one.
 */
export class RetryTimer {
  private timer: NodeJS.Timeout | null = null;

  /** True while a run is scheduled and has not started. */
  get pending(): boolean {
    return this.timer !== null;
  }

  /** Run `fn` after `ms`, unless a run is already pending. */
  schedule(ms: number, fn: () => void): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      fn();
    }, ms);
    this.timer.unref();
  }

  /** Drop the pending run, if any. Idempotent. */
  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
