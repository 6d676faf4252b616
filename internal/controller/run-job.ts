/**
 * One job on one agent from submission to its end: submit, follow the live frames,
 * cancel on the agent when asked (Ctrl-C), then read the stored result. Never throws for
 * what an agent says or a network failure: the outcome carries it, so single runs and
 * fan-out report the same way.
 */
import type { JobClient } from './job-client.js';
import { ControllerError } from './controller-error.js';
import { FollowAborted } from './follow.js';
import type { RunSpec } from './job-request.js';
import type { FinalFrame, JobResult, JobState, OutputFrame } from './wire.js';

/** Exit code when a job could not run (like `docker run`). */
export const EXIT_COULD_NOT_RUN = 125;
/** Exit code of a timed-out job (like coreutils `timeout`). */
export const EXIT_TIMEOUT = 124;
/** Exit code after Ctrl-C (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

/** How a job on one agent ended, as far as this side knows. */
export interface JobOutcome {
  readonly agent: string;
  /** Null when it was never submitted. */
  readonly jobId: string | null;
  /** The job's state; `error` when the agent refused it or could not be reached; `skipped` when never submitted. */
  readonly status: JobState | 'error' | 'skipped';
  readonly exitCode: number | null;
  /** The job's own duration (agent's figure), else wall time here; null when never submitted. */
  readonly durationMs: number | null;
  readonly timedOut: boolean;
  /** True when this side asked the agent to cancel it. */
  readonly cancelRequested: boolean;
  /** The stored result, when it could be read. */
  readonly result: JobResult | null;
  /** Why it failed on this side or the agent refused it. */
  readonly failure: ControllerError | null;
}

/** Hooks of a run. */
export interface RunJobOptions {
  /** Called once the agent accepted the job. */
  readonly onSubmitted?: (jobId: string) => void;
  /** Each output frame, in order. */
  readonly onFrame: (f: OutputFrame) => void;
  /** Aborting cancels the job on the agent and waits (bounded) for it to stop. */
  readonly signal?: AbortSignal;
  /** How long to wait for the job to stop after a cancel (default 15 s). */
  readonly cancelWaitMs?: number;
  /** Called when the agent has no live stream and output comes at the end. */
  readonly onFallback?: () => void;
}

/** An outcome for an agent the job was never sent to. */
export function skippedOutcome(agent: string): JobOutcome {
  return { agent, jobId: null, status: 'skipped', exitCode: null, durationMs: null, timedOut: false, cancelRequested: false, result: null, failure: null };
}

/** Submit, follow and collect one job. */
export async function runJob(client: JobClient, spec: RunSpec, opts: RunJobOptions): Promise<JobOutcome> {
  const started = Date.now();
  const base = { agent: client.name, timedOut: false, result: null };
  if (opts.signal?.aborted === true) return skippedOutcome(client.name);
  let jobId: string;
  try {
    jobId = (await client.submit(spec)).jobId;
  } catch (e) {
    const failure = asControllerError(client.name, e);
    return { ...base, jobId: spec.jobId ?? null, status: 'error', exitCode: null, durationMs: null, cancelRequested: false, failure };
  }
  opts.onSubmitted?.(jobId);

  let cancelRequested = false;
  let failure: ControllerError | null = null;
  const stopFollowing = new AbortController();
  let deadline: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    if (cancelRequested) return;
    cancelRequested = true;
    deadline = setTimeout(() => stopFollowing.abort(), opts.cancelWaitMs ?? 15_000);
    client.cancel(jobId).catch((e: unknown) => {
      const err = asControllerError(client.name, e);
      // JOB_FINISHED: it ended on its own meanwhile; the follower sees its final frame.
      if (err.code !== 'JOB_FINISHED') failure = err;
    });
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // Ctrl-C may have come while the submission was in flight.
  if (isAborted(opts.signal)) onAbort();

  let final: FinalFrame | null = null;
  try {
    final = await client.follow(jobId, { onFrame: opts.onFrame, signal: stopFollowing.signal, onFallback: opts.onFallback });
  } catch (e) {
    if (!(e instanceof FollowAborted)) failure = asControllerError(client.name, e);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (deadline !== undefined) clearTimeout(deadline);
  }

  let result: JobResult | null = null;
  let state: JobState | null = final?.status ?? null;
  try {
    const s = await client.status(jobId);
    result = s.result;
    state = s.status;
  } catch (e) {
    failure ??= asControllerError(client.name, e);
  }
  return {
    agent: client.name,
    jobId,
    status: state ?? 'error',
    exitCode: result?.exit_code ?? final?.exit_code ?? null,
    durationMs: result?.duration_ms ?? Date.now() - started,
    timedOut: result?.timed_out ?? false,
    cancelRequested,
    result,
    failure,
  };
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function asControllerError(agent: string, e: unknown): ControllerError {
  if (e instanceof ControllerError) return e;
  return new ControllerError(agent, 'STREAM_FAILED', e instanceof Error ? e.message : String(e), { cause: e });
}

/** True when the job ran to its own exit with code 0. */
export function succeeded(o: JobOutcome): boolean {
  return o.status === 'completed' && o.exitCode === 0;
}

/**
 * The exit code `quickcmd run` ends with: the job's own, 124 on timeout, 130 after a
 * cancel, 125 when it could not run (refused, unreachable, sandbox error).
 */
export function exitCodeFor(o: JobOutcome): number {
  if (o.cancelRequested) return EXIT_INTERRUPTED;
  switch (o.status) {
    case 'completed':
      return o.exitCode ?? EXIT_COULD_NOT_RUN;
    case 'failed':
      return o.timedOut ? EXIT_TIMEOUT : (o.exitCode ?? EXIT_COULD_NOT_RUN);
    case 'cancelled':
      return EXIT_INTERRUPTED;
    case 'rejected':
    case 'error':
    case 'skipped':
    case 'pending':
    case 'running':
      return EXIT_COULD_NOT_RUN;
  }
}
