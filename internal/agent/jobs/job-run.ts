/**
 * One job's run in the sandbox: start the container (or re-attach to one that survived a
 * restart), arm the timeout, wait for the exit, decide the outcome, and remove the
 * container once the result is stored. The job manager owns the run and its state; it
 * hands this the run and is called back to record the end (`complete`).
 */
import type { AuditLog } from '../../audit/audit-log.js';
import type { ArtifactCollection, ExitResult, Sandbox, SandboxHandle } from '../../sandbox/sandbox.js';
import { SandboxError } from '../../sandbox/sandbox-error.js';
import type { Clock } from '../clock.js';
import type { AgentConfig } from '../config/config.js';
import type { DockerHealth } from '../engine/docker-health.js';
import { sandboxSpecFor } from '../door/job-limits.js';
import type { Logger } from '../logger.js';
import type { AgentMetrics } from '../metrics.js';
import { decideOutcome, type Outcome } from './job-outcome.js';
import { collectedArtifacts, withJobFiles } from './job-artifacts.js';
import type { JobOutput } from './job-output.js';
import type { JobStore } from './job-store.js';
import { runtimeOfJob } from './job-ledger.js';
import type { JobRecord, JobSpec, JobStatus } from './job.js';

/** Seconds between SIGTERM and SIGKILL when the agent stops a container. */
export const STOP_GRACE_SECONDS = 2;

/** In-memory state of a job that holds (or is getting) a container. */
export interface Run {
  readonly jobId: string;
  readonly spec: JobSpec;
  readonly output: JobOutput;
  handle: SandboxHandle | null;
  startMs: number | null;
  timer: NodeJS.Timeout | null;
  timedOut: boolean;
  cancelled: boolean;
  shutdown: boolean;
  /** Collected after the command ended (SPEC §12); null without artifacts. */
  artifacts: ArtifactCollection | null;
  /** Set when the agent itself failed the run (see RunFacts.failure). */
  failure: string | null;
  done: Promise<void>;
  /** Settles with a failed exit once the container is given up on (it could not be stopped). */
  readonly aborted: Promise<ExitResult>;
  /** Give up waiting on the container (idempotent). */
  abort(why: string): void;
}

/** A fresh run (no container yet); `makeOutput` gets the callback for output that cannot be stored. */
export function newRun(jobId: string, spec: JobSpec, startMs: number | null, makeOutput: (onFailure: (why: string) => void) => JobOutput, onOutputFailure: (run: Run, why: string) => void): Run {
  let settle: (r: ExitResult) => void = () => undefined;
  const aborted = new Promise<ExitResult>((res) => (settle = res));
  const run: Run = {
    jobId,
    spec,
    output: makeOutput((why) => onOutputFailure(run, why)),
    handle: null,
    startMs,
    timer: null,
    timedOut: false,
    cancelled: false,
    shutdown: false,
    artifacts: null,
    failure: null,
    done: Promise.resolve(),
    aborted,
    abort(why) {
      run.failure ??= why;
      settle({ exitCode: -1, signal: null, oomKilled: false, error: why });
    },
  };
  return run;
}

/** What a run uses of the manager's dependencies. */
export interface RunDeps {
  readonly store: JobStore;
  readonly sandbox: Sandbox;
  readonly audit: AuditLog;
  readonly metrics: AgentMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly docker: DockerHealth;
  readonly agentId: string;
  readonly config: () => AgentConfig;
}

/** The job manager, as a run sees it. */
export interface RunHost {
  readonly deps: RunDeps;
  /** abandon() was called: leave the container for the next start, record nothing. */
  detached(): boolean;
  /** shutdown() or abandon() began: stop a container that has just started. */
  stopping(): boolean;
  /** Record the end of the run (result, audit, metrics, final frame) and free its slot. */
  complete(run: Run, rec: JobRecord, o: Outcome, sandboxId: string | null, from?: JobStatus): void;
  /** Stop the run's container, retried, never rejecting; a stop that fails for good aborts the run. */
  stopRun(run: Run, handle: SandboxHandle): void;
  /** Free the run's slot without recording anything (the store is failing). */
  release(run: Run): void;
}

export async function executeRun(run: Run, rec: JobRecord, adoptContainer: string | null, host: RunHost): Promise<void> {
  const d = host.deps;
  let handle: SandboxHandle;
  try {
    if (adoptContainer === null) {
      const t0 = performance.now();
      handle = await d.sandbox.start(withJobFiles(sandboxSpecFor(rec, d.config(), d.agentId), rec, d.store, d.config()), run.output);
      d.metrics.sandboxStart.observe({ runtime: runtimeOfJob(rec) }, (performance.now() - t0) / 1000);
      run.startMs = d.clock.nowMs();
      // Closed (abandon) while the container was starting: the store is gone, so nothing can
      // be recorded, and the container is left running for the next start to adopt (by its
      // job label); recordStart's "remove it" is for a live agent whose audit failed.
      if (host.detached()) {
        run.handle = handle;
        return;
      }
      if (!recordStart(run, rec, handle, host)) return;
    } else {
      const t = d.store.outputTotals(rec.jobId);
      handle = await d.sandbox.reattach(adoptContainer, run.output, { stdout: t.stdout, stderr: t.stderr });
      d.logger.info({ job_id: rec.jobId, container_id: adoptContainer }, 're-attached to a running job after restart');
    }
  } catch (e) {
    if (host.detached()) return;
    const err = e instanceof SandboxError ? e : new SandboxError('SANDBOX_ERROR', 'sandbox could not be started', { cause: e });
    if (err.code === 'DOCKER_UNAVAILABLE') d.docker.markDown();
    d.logger.warn({ job_id: rec.jobId, code: err.code, err: e }, 'sandbox start failed');
    const status = err.code === 'IMAGE_MISSING' ? 'rejected' : 'failed';
    // No container was ever made, so a refused job is rejected from the state it was
    // launched from (pending, its start already stored); running → rejected is not legal.
    const from = status === 'rejected' && adoptContainer === null ? 'pending' : 'running';
    host.complete(run, rec, { status, exitCode: null, error: err.message, timedOut: false, oomKilled: false }, null, from);
    return;
  }
  run.handle = handle;
  // Closed (abandon) while the container was starting: it is left running for the next
  // start to adopt, so no stop and no timeout timer (output can arrive before start() returns).
  if (host.detached()) return;
  // Started during a graceful shutdown: like any running job it has the rest of the grace
  // period; once that is over (run.shutdown) it is stopped and ends failed ("agent
  // shutdown"), never completed with the 143 of the stop.
  if (run.cancelled || run.shutdown || run.failure !== null) host.stopRun(run, handle);
  const elapsed = d.clock.nowMs() - (run.startMs ?? d.clock.nowMs());
  run.timer = setTimeout(() => {
    run.timedOut = true;
    host.stopRun(run, handle);
  }, Math.max(0, rec.spec.timeoutSeconds * 1000 - elapsed));
  const exit = await Promise.race([handle.wait(), run.aborted]);
  // A container given up on (it could not be stopped) is not read again.
  run.artifacts = run.failure === null ? await collectedArtifacts(handle, rec.spec) : null;
  clearTimeout(run.timer);
  if (host.detached()) return;
  const outcome = decideOutcome({
    exit,
    timedOut: run.timedOut,
    cancelled: run.cancelled,
    shutdown: run.shutdown,
    timeoutSeconds: rec.spec.timeoutSeconds,
    memoryLimit: rec.spec.memoryLimit,
    failure: run.failure,
  });
  host.complete(run, rec, outcome, handle.containerId);
  // The result is stored; only now may the container go (SPEC §5).
  await handle.destroy().catch((e: unknown) => d.logger.warn({ err: e, job_id: rec.jobId }, 'container removal failed; the reconciler will retry'));
}

/**
 * Store and audit job.started. If that fails (disk full, audit down) the container must
 * not run on outside supervision: it is removed and the job fails. False when it failed.
 */
function recordStart(run: Run, rec: JobRecord, handle: SandboxHandle, host: RunHost): boolean {
  const d = host.deps;
  try {
    d.store.transaction(() => {
      d.store.setSandbox(rec.jobId, handle.containerId, run.startMs ?? d.clock.nowMs());
      d.audit.append({
        type: 'job.started',
        jobId: rec.jobId,
        controllerId: rec.controllerId,
        details: { container_id: handle.containerId, image: rec.spec.image, runtime: runtimeOfJob(rec), cpu_limit: rec.spec.cpuLimit, memory_limit: rec.spec.memoryLimit, pids_limit: rec.spec.pidsLimit, timeout_seconds: rec.spec.timeoutSeconds },
      });
    });
    return true;
  } catch (e) {
    d.audit.markFailed();
    d.logger.error({ err: e, job_id: rec.jobId, container_id: handle.containerId }, 'could not record job.started; removing the container');
    run.handle = handle;
    void handle.destroy().catch((e2: unknown) => d.logger.warn({ err: e2, job_id: rec.jobId }, 'container removal failed; the reconciler will retry'));
    try {
      host.complete(run, rec, { status: 'failed', exitCode: null, error: 'the job start could not be recorded (audit unavailable); the container was removed', timedOut: false, oomKilled: false }, handle.containerId);
    } catch (e2) {
      // Still running in the store: the reconciler fails it (container gone) once it can write.
      d.logger.error({ err: e2, job_id: rec.jobId }, 'could not record the failure');
      host.release(run);
    }
    return false;
  }
}
