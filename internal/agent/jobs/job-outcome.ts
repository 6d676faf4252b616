/**
 * Pure decision of a job's terminal status and result from how its container ended and
 * what the manager asked of it (timeout, cancel, shutdown). Order matters: an explicit
 * request (timeout, cancel, shutdown) explains a kill better than the exit code does.
 */
import type { ExitResult } from '../../sandbox/sandbox.js';
import { rfc3339 } from '../clock.js';
import type { StoredResult, TerminalStatus } from './job.js';

/** Exit code reported for a timed-out job (like coreutils `timeout`). */
export const TIMEOUT_EXIT_CODE = 124;

/** What the manager knows about a run when its container has ended. */
export interface RunFacts {
  readonly exit: ExitResult;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  readonly shutdown: boolean;
  readonly timeoutSeconds: number;
  readonly memoryLimit: number;
  /** Why the agent itself failed the run (container could not be stopped, output not storable). */
  readonly failure?: string | null;
}

/** Status and the result fields that depend on it. */
export interface Outcome {
  readonly status: TerminalStatus;
  readonly exitCode: number | null;
  readonly error: string | null;
  readonly timedOut: boolean;
  readonly oomKilled: boolean;
}

/** Decide the terminal status of a run. */
export function decideOutcome(f: RunFacts): Outcome {
  const exitCode = f.exit.exitCode >= 0 ? f.exit.exitCode : null;
  const base = { exitCode, timedOut: false, oomKilled: f.exit.oomKilled };
  // The agent's own failure explains the end better than any request: it is what went wrong.
  if (f.failure !== undefined && f.failure !== null) return { ...base, status: 'failed', timedOut: f.timedOut, error: f.failure };
  if (f.timedOut) {
    return { ...base, status: 'failed', exitCode: TIMEOUT_EXIT_CODE, timedOut: true, error: `timed out after ${f.timeoutSeconds}s` };
  }
  if (f.cancelled) return { ...base, status: 'cancelled', error: 'cancelled by controller' };
  if (f.shutdown) return { ...base, status: 'failed', error: 'agent shutdown: job stopped after the grace period' };
  if (f.exit.error !== null) return { ...base, status: 'failed', error: f.exit.error };
  if (f.exit.oomKilled) {
    return { ...base, status: 'failed', error: `out of memory: killed at the ${f.memoryLimit}-byte limit` };
  }
  return { ...base, status: 'completed', error: null };
}

/** What the stored result needs besides the outcome. */
export interface EndFacts {
  readonly sandboxId: string | null;
  /** Epoch ms the command started, or null if it never did. */
  readonly startMs: number | null;
  readonly endMs: number;
  readonly outputTruncated: boolean;
  readonly runtime: StoredResult['runtime'];
}

/** The result stored for a run that ended with `o`. */
export function storedResult(o: Outcome, f: EndFacts): StoredResult {
  return {
    sandbox_id: f.sandboxId,
    exit_code: o.exitCode,
    start_time: f.startMs === null ? null : rfc3339(f.startMs),
    end_time: rfc3339(f.endMs),
    duration_ms: f.startMs === null ? 0 : f.endMs - f.startMs,
    error: o.error,
    output_truncated: f.outputTruncated,
    timed_out: o.timedOut,
    oom_killed: o.oomKilled,
    runtime: f.runtime,
  };
}
