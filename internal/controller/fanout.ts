/**
 * Fan-out scheduling: the same job on many agents, at most `parallel` at a time; once
 * more than `maxFailures` hosts have failed no new host is started (like SSM's MaxErrors
 * and Salt's batches) — running ones finish, the rest are reported as skipped. Pure:
 * what "run on one host" means is passed in, so the policy is tested without a network.
 */

/** Scheduling policy. */
export interface FanOutOptions {
  /** Hosts running at once (at least 1). */
  readonly parallel: number;
  /** Failures tolerated before no new host is started; null: no limit. */
  readonly maxFailures: number | null;
  /** Aborting stops starting hosts (running ones get the same signal). */
  readonly signal?: AbortSignal;
  /** Called whenever a host starts or ends. */
  readonly onProgress?: (p: FanOutProgress) => void;
}

/** Counts for a progress line. */
export interface FanOutProgress {
  readonly total: number;
  readonly running: number;
  readonly done: number;
  readonly failed: number;
  /** True once the failure limit stopped new starts. */
  readonly halted: boolean;
}

/** How to run one host, judge it, and report one never started. */
export interface FanOutHooks<H, R> {
  run(host: H, signal: AbortSignal): Promise<R>;
  ok(result: R): boolean;
  skipped(host: H): R;
}

/** Run `hosts` under `opts`; resolves with one result per host, in host order. */
export function fanOut<H, R>(hosts: readonly H[], hooks: FanOutHooks<H, R>, opts: FanOutOptions): Promise<R[]> {
  const parallel = Math.max(1, Math.floor(opts.parallel));
  const results: (R | undefined)[] = new Array<R | undefined>(hosts.length).fill(undefined);
  const signal = opts.signal ?? new AbortController().signal;
  let next = 0;
  let running = 0;
  let done = 0;
  let failed = 0;
  let halted = false;
  const progress = (): void => opts.onProgress?.({ total: hosts.length, running, done, failed, halted });

  return new Promise<R[]>((resolve) => {
    const finish = (): void => {
      resolve(results.map((r, i) => r ?? hooks.skipped(hosts[i] as H)));
    };
    const pump = (): void => {
      while (!halted && !signal.aborted && running < parallel && next < hosts.length) {
        const i = next++;
        running++;
        const host = hosts[i] as H;
        void hooks.run(host, signal).then(
          (r) => settle(i, r),
          // run() should not throw; if it does the host counts as failed, with no result.
          () => settle(i, undefined),
        );
      }
      progress();
      if (running === 0) finish();
    };
    const settle = (i: number, r: R | undefined): void => {
      running--;
      done++;
      results[i] = r;
      if (r === undefined || !hooks.ok(r)) {
        failed++;
        if (opts.maxFailures !== null && failed > opts.maxFailures) halted = true;
      }
      pump();
    };
    pump();
  });
}
