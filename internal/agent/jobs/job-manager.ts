/**
 * The job manager: the only owner of job state. Every change goes through `transition`,
 * checked against the table in job.ts, persisted, audited and counted in one place. It
 * keeps the FIFO queue (job-queue.ts), enforces max_concurrent_jobs, cancels and shuts
 * down, and records each job's end; one run in the sandbox is job-run.ts.
 */
import type { AuditLog } from '../../audit/audit-log.js';
import type { Sandbox, SandboxHandle } from '../../sandbox/sandbox.js';
import type { Clock } from '../clock.js';
import type { AgentConfig } from '../config/config.js';
import type { DockerHealth } from '../engine/docker-health.js';
import { AgentError } from '../errors.js';
import { storedResult, type Outcome } from './job-outcome.js';
import { JobOutput, type OutputStart } from './job-output.js';
import { JobQueue } from './job-queue.js';
import type { JobStore } from './job-store.js';
import { isTerminal, type AcceptedJob, type JobRecord, type JobResult, type JobStatus } from './job.js';
import { JobLedger, runtimeOfJob } from './job-ledger.js';
import { executeRun, newRun, STOP_GRACE_SECONDS, type Run, type RunHost } from './job-run.js';
import { endRunsWithinGrace, removeJobContainers, stopSafely } from './run-stop.js';
import type { Logger } from '../logger.js';
import type { AgentMetrics } from '../metrics.js';
import type { OutputHub } from '../stream/output-hub.js';

/** Everything the manager needs, passed in. */
export interface JobManagerDeps {
  readonly store: JobStore;
  readonly sandbox: Sandbox;
  readonly audit: AuditLog;
  readonly hub: OutputHub;
  readonly metrics: AgentMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly docker: DockerHealth;
  readonly agentId: string;
  /** The current config (swapped on reload). */
  readonly config: () => AgentConfig;
}

/** Owner of job state, queue and runs. */
export class JobManager {
  private readonly queue = new JobQueue();
  private readonly runs = new Map<string, Run>();
  private accepting = true;
  private stopping = false;
  /** Set by abandon(): runs are left to the next agent start, nothing more is recorded. */
  private detached = false;

  private readonly ledger: JobLedger;
  /** What a run (job-run.ts) sees of this manager. */
  private readonly runHost: RunHost;

  constructor(private readonly d: JobManagerDeps) {
    this.ledger = new JobLedger(d);
    this.runHost = {
      deps: d,
      detached: () => this.detached,
      stopping: () => this.stopping,
      complete: (run, rec, o, sandboxId, from) => this.complete(run, rec, o, sandboxId, from),
      stopRun: (run, handle) => this.stopRun(run, handle),
      release: (run) => this.release(run),
    };
    d.docker.onChange((up) => {
      if (up) this.pump();
    });
  }

  /** Jobs waiting for a slot. */
  get queued(): number {
    return this.queue.length;
  }

  /** Jobs holding a slot. */
  get running(): number {
    return this.runs.size;
  }

  /** False once shutdown has begun. */
  get isAccepting(): boolean {
    return this.accepting;
  }

  /** Throw QUEUE_FULL if one more job would exceed max_queued_jobs. */
  checkCapacity(): void {
    const cfg = this.d.config();
    const freeSlots = cfg.max_concurrent_jobs - this.runs.size - this.queue.length;
    if (freeSlots > 0) return;
    if (this.queue.length >= cfg.max_queued_jobs) {
      throw new AgentError('QUEUE_FULL', `queue is full (${this.queue.length} jobs waiting); retry later`, {
        headers: { 'Retry-After': String(Math.max(1, Math.min(60, this.queue.length))) },
      });
    }
  }

  /** Persist, audit and enqueue a new job (one transaction: the id is consumed iff the job exists). */
  accept(job: AcceptedJob): void {
    // A job that can start at once is stored as running in the same transaction as its
    // acceptance: its slot is taken only once that is stored, and a store failure leaves
    // nothing (503 AUDIT_UNAVAILABLE, no slot held, the id not consumed).
    const now = this.queue.length === 0 && this.canStart();
    this.ledger.accept(job, now);
    this.d.metrics.jobsTotal.inc();
    if (now) {
      const rec = this.d.store.get(job.jobId);
      if (rec !== null) this.launch(rec, null);
      return;
    }
    this.queue.push(job.jobId);
    this.d.metrics.jobsQueued.set(this.queue.length);
    this.pump();
  }

  private canStart(): boolean {
    return !this.stopping && this.d.docker.up && this.runs.size < this.d.config().max_concurrent_jobs;
  }

  /** Bytes of stored output of a job (both streams). */
  outputBytes(jobId: string): number {
    const t = this.d.store.outputTotals(jobId);
    return t.stdout + t.stderr;
  }

  /** True if this job id was ever accepted, even if the job has since been pruned. */
  wasAccepted(jobId: string): boolean {
    return this.d.store.wasAccepted(jobId);
  }

  /** The job record, or null. */
  get(jobId: string): JobRecord | null {
    return this.d.store.get(jobId);
  }

  /** The wire result of a finished job (output assembled from stored frames), or null while it runs. */
  result(rec: JobRecord): JobResult | null {
    return this.ledger.result(rec);
  }

  /** Cancel a pending or running job. Returns the status after the request. */
  cancel(jobId: string, by: { controllerId: string; remoteAddr: string | null }): JobStatus {
    const rec = this.d.store.get(jobId);
    if (rec === null) throw new AgentError('JOB_NOT_FOUND', 'job not found');
    if (isTerminal(rec.status)) throw new AgentError('JOB_FINISHED', `job already ${rec.status}`);
    const audit = { type: 'job.cancelled' as const, jobId, controllerId: by.controllerId, remoteAddr: by.remoteAddr, details: { previous_status: rec.status } };
    const run = this.runs.get(jobId);
    if (run === undefined && rec.status === 'running') {
      // Running in the store but not yet re-adopted (just after a restart): its container
      // must not outlive the cancel unsupervised.
      this.d.audit.append(audit);
      this.ledger.finishWithoutRun(rec, 'cancelled', 'cancelled by controller (container removed before it was re-adopted)');
      void removeJobContainers(this.d.sandbox, this.d.agentId, rec).catch((e: unknown) => this.d.logger.warn({ err: e, job_id: jobId }, "could not remove the cancelled job's container; the reconciler will retry"));
      return 'cancelled';
    }
    if (run === undefined) {
      this.queue.remove(jobId);
      this.d.metrics.jobsQueued.set(this.queue.length);
      this.d.audit.append(audit);
      this.ledger.finishWithoutRun(rec, 'cancelled', 'cancelled by controller before it started');
      return 'cancelled';
    }
    if (!run.cancelled) {
      run.cancelled = true;
      this.d.audit.append(audit);
      if (run.handle !== null) this.stopRun(run, run.handle);
    }
    return 'running';
  }

  /** Start queued jobs while slots are free and the engine answers. */
  pump(): void {
    while (this.canStart() && this.queue.length > 0) {
      const jobId = this.queue.first() as string;
      let rec: JobRecord | null;
      try {
        rec = this.d.store.get(jobId);
        // The slot is taken only once running is stored.
        if (rec !== null && rec.status === 'pending') this.ledger.transition(rec.jobId, rec.status, 'running');
      } catch (e) {
        // The job stays first in the queue and pending in the store; try again shortly.
        this.d.audit.markFailed();
        this.d.logger.error({ err: e, job_id: jobId }, 'could not store a job start; retrying');
        if (!this.detached) this.queue.retryLater(() => this.pump());
        break;
      }
      this.queue.shift();
      if (rec === null || rec.status !== 'pending') continue;
      this.launch(rec, null);
    }
    this.d.metrics.jobsQueued.set(this.queue.length);
  }

  /** Queue the jobs left pending by a previous run of the agent, in order. */
  enqueuePending(): void {
    for (const rec of this.d.store.listByStatus('pending')) {
      if (!this.queue.includes(rec.jobId) && !this.runs.has(rec.jobId)) this.queue.push(rec.jobId);
    }
    this.pump();
  }

  /** Follow a container that survived an agent restart (reconciler). */
  adopt(rec: JobRecord, containerId: string): void {
    // A job cancelled since the reconciler looked is not adopted (its container is removed).
    if (this.runs.has(rec.jobId) || this.d.store.get(rec.jobId)?.status !== 'running') return;
    this.launch(rec, containerId);
  }

  /** End a job recorded as running whose container is gone. */
  failVanished(rec: JobRecord, why: string): void {
    if (this.runs.has(rec.jobId)) return;
    this.ledger.finishWithoutRun(rec, 'failed', why);
  }

  /** Ids of jobs holding a container now (the reconciler must not touch these). */
  activeJobIds(): ReadonlySet<string> {
    return new Set(this.runs.keys());
  }

  /** Stop accepting new jobs (SHUTTING_DOWN at the door). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Graceful then forced stop: wait up to `graceSeconds` for runs, then stop them (failed, "agent shutdown"). */
  async shutdown(graceSeconds: number): Promise<void> {
    this.accepting = false;
    this.stopping = true;
    await endRunsWithinGrace(() => [...this.runs.values()], graceSeconds, (r) => {
      r.shutdown = true;
      if (r.handle !== null) this.stopRun(r, r.handle);
    });
  }

  /** Stop following runs without ending them (fast close; containers are re-adopted on the next start). */
  abandon(): void {
    this.accepting = false;
    this.stopping = true;
    this.detached = true;
    this.queue.stopRetry();
    for (const r of this.runs.values()) {
      if (r.timer !== null) clearTimeout(r.timer);
      r.output.detach();
    }
  }

  /** Take a slot for a job already stored as running (new, or adopted after a restart). */
  private launch(rec: JobRecord, adoptContainer: string | null): void {
    const cfg = this.d.config();
    const totals = adoptContainer === null ? { stdout: 0, stderr: 0, lastSeq: 0 } : this.d.store.outputTotals(rec.jobId);
    const startMs = adoptContainer === null ? null : (rec.result?.start_time ? Date.parse(rec.result.start_time) : rec.updatedAt);
    const run = newRun(rec.jobId, rec.spec, startMs, (onFailure) => new JobOutput(rec.jobId, this.d, cfg.max_output_bytes, totals satisfies OutputStart, onFailure), (r, why) => {
      // Output cannot be stored: the job fails (its output so far stays consistent).
      r.failure ??= why;
      if (r.handle !== null) this.stopRun(r, r.handle);
    });
    this.runs.set(rec.jobId, run);
    this.d.metrics.jobsRunning.set(this.runs.size);
    run.done = executeRun(run, rec, adoptContainer, this.runHost).catch((e: unknown) => {
      this.d.logger.error({ err: e, job_id: rec.jobId }, 'job run failed unexpectedly');
      // Safety net: never leave a job holding its slot after an unexpected error.
      if (this.detached || this.runs.get(rec.jobId) !== run) return;
      try {
        this.complete(run, rec, { status: 'failed', exitCode: null, error: 'internal agent error while running the job', timedOut: false, oomKilled: false }, run.handle?.containerId ?? null);
      } catch (e2) {
        this.d.logger.error({ err: e2, job_id: rec.jobId }, 'could not record the failure');
        this.release(run);
      }
      void run.handle?.destroy().catch(() => undefined);
    });
  }

  /** Free a run's slot without recording anything (the store is failing). */
  private release(run: Run): void {
    if (this.runs.get(run.jobId) !== run) return;
    this.runs.delete(run.jobId);
    this.d.metrics.jobsRunning.set(this.runs.size);
    this.pump();
  }

  /** Stop the run's container; a stop that fails for good ends the run failed (never an unhandled rejection). */
  private stopRun(run: Run, handle: SandboxHandle): void {
    const onFirstFailure = (err: string): void => {
      run.failure ??= `the container could not be stopped at first (${err}); it was stopped on a retry`;
    };
    void stopSafely(handle, { graceSeconds: STOP_GRACE_SECONDS, logger: this.d.logger, jobId: run.jobId, onFirstFailure }).then((r) => {
      if (r.stopped) return;
      run.failure = `the container could not be stopped: ${r.lastError ?? 'unknown error'}`;
      run.abort(run.failure);
    });
  }

  private complete(run: Run, rec: JobRecord, o: Outcome, sandboxId: string | null, from: JobStatus = 'running'): void {
    const summary = run.output.finish();
    const result = storedResult(o, { sandboxId, startMs: run.startMs, endMs: this.d.clock.nowMs(), outputTruncated: summary.truncated, runtime: runtimeOfJob(rec) });
    this.ledger.record(rec, from, o.status, result, { stdout_bytes: summary.stdoutBytes, stderr_bytes: summary.stderrBytes, output_sha256: summary.sha256 }, run.artifacts);
    this.runs.delete(rec.jobId);
    this.d.metrics.jobsRunning.set(this.runs.size);
    this.d.metrics.finished(o.status, run.startMs === null ? null : result.duration_ms / 1000, result.runtime);
    this.d.hub.end(rec.jobId, { lastSeq: summary.lastSeq, status: o.status, exitCode: o.exitCode });
    this.pump();
  }
}
