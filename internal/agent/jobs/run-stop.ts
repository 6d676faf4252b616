/**
 * Stopping a job's container without ever leaving a rejected promise behind: the engine
 * may be restarting or answering 500, and a bare `void handle.stop()` would then crash the
 * agent with an unhandled rejection. Each failure is logged and the stop retried, harder
 * each time (grace, grace again, kill, force removal); the caller learns whether it worked.
 */
import type { Sandbox, SandboxHandle } from '../../sandbox/sandbox.js';
import type { Logger } from '../logger.js';

/** Delays before each retry of a failed stop (the engine gets about 10 s to come back). */
export const STOP_RETRY_DELAYS_MS: readonly number[] = [1000, 3000, 6000];

/** How one stop ended. */
export interface StopReport {
  /** True once the container was stopped or removed. */
  readonly stopped: boolean;
  /** The first failure (for the job's error), or null when the first attempt worked. */
  readonly firstError: string | null;
  /** The last failure when every attempt failed. */
  readonly lastError: string | null;
}

/** What stopSafely needs. */
export interface StopOptions {
  readonly graceSeconds: number;
  readonly logger: Logger;
  readonly jobId: string;
  readonly delaysMs?: readonly number[];
  /** Told at once when the first attempt fails (before any retry, so the exit it causes is explained). */
  readonly onFirstFailure?: (error: string) => void;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Stop `handle`, retrying on failure; never rejects. */
export async function stopSafely(handle: SandboxHandle, o: StopOptions): Promise<StopReport> {
  const delays = o.delaysMs ?? STOP_RETRY_DELAYS_MS;
  // Grace first (the command may clean up), then less patience each time.
  const attempts: readonly (() => Promise<void>)[] = [
    () => handle.stop(o.graceSeconds),
    ...delays.map((_, i) => (i < delays.length - 1 ? () => handle.stop(i === 0 ? o.graceSeconds : 0) : () => handle.destroy())),
  ];
  let firstError: string | null = null;
  let lastError: string | null = null;
  for (const [i, attempt] of attempts.entries()) {
    try {
      await attempt();
      return { stopped: true, firstError, lastError: null };
    } catch (e) {
      lastError = message(e);
      if (firstError === null) {
        firstError = lastError;
        o.onFirstFailure?.(firstError);
      }
      o.logger.warn({ job_id: o.jobId, container_id: handle.containerId, attempt: i + 1, err: e }, 'stopping the container failed; retrying');
    }
    const delay = delays[i];
    if (delay !== undefined) await new Promise((r) => setTimeout(r, delay).unref());
  }
  o.logger.error({ job_id: o.jobId, container_id: handle.containerId, error: lastError }, 'could not stop the container; the reconciler will remove it');
  return { stopped: false, firstError, lastError };
}

/** Force-remove the job's container: by its stored id, or (crash before that was stored) by its label. */
export async function removeJobContainers(sandbox: Sandbox, agentId: string, job: { readonly jobId: string; readonly sandboxId: string | null }): Promise<number> {
  if (job.sandboxId !== null) {
    await sandbox.remove(job.sandboxId);
    return 1;
  }
  const mine = (await sandbox.listManaged(agentId)).filter((c) => c.jobId === job.jobId);
  for (const c of mine) await sandbox.remove(c.containerId);
  return mine.length;
}

/**
 * Shutdown's grace: wait up to `graceSeconds` for every run to end by itself; if some have
 * not, `force` each run still held (marked, its container stopped) and wait for them all.
 */
export async function endRunsWithinGrace<R extends { readonly done: Promise<void> }>(runs: () => readonly R[], graceSeconds: number, force: (run: R) => void): Promise<void> {
  const all = (): Promise<void[]> => Promise.all(runs().map((r) => r.done));
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<'timeout'>((res) => {
    timer = setTimeout(() => res('timeout'), graceSeconds * 1000);
  });
  const first = await Promise.race([all().then(() => 'done' as const), graceOver]);
  clearTimeout(timer);
  if (first === 'timeout') {
    for (const r of runs()) force(r);
    await all();
  }
}
