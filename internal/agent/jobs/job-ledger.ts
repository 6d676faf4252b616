/**
 * The job manager's bookkeeping: every persisted state change of a job, each in one
 * transaction with its audit event, plus the wire result assembled from stored output.
 * Only the job manager calls it; the transition table is checked here, at the write.
 */
import type { AuditLog } from '../../audit/audit-log.js';
import { DEFAULT_RUNTIME, type RuntimeName } from '../../sandbox/runtimes.js';
import { rfc3339, type Clock } from '../clock.js';
import { AgentError, asAgentError } from '../errors.js';
import type { ArtifactCollection } from '../../sandbox/sandbox.js';
import { artifactAudit, artifactFields } from './job-artifacts.js';
import type { JobStore } from './job-store.js';
import { canTransition, isTerminal, type AcceptedJob, type JobRecord, type JobResult, type JobStatus, type StoredResult } from './job.js';
import type { AgentMetrics } from '../metrics.js';
import type { OutputHub } from '../stream/output-hub.js';

/** What the ledger writes to. */
export interface LedgerDeps {
  readonly store: JobStore;
  readonly audit: AuditLog;
  readonly metrics: AgentMetrics;
  readonly clock: Clock;
  readonly hub: OutputHub;
}

/** The runtime of a stored job (jobs stored before SPEC §14 ran under runc). */
export function runtimeOfJob(rec: Pick<JobRecord, 'spec'>): RuntimeName {
  return rec.spec.runtime ?? DEFAULT_RUNTIME;
}

/** Persistence of job state changes, audited. */
export class JobLedger {
  constructor(private readonly d: LedgerDeps) {}

  /**
   * Store a new pending job, its id and its job.accepted event in one transaction; with
   * `running`, also its start (pending → running), so a slot is never held for a job whose
   * state is not stored.
   */
  accept(job: AcceptedJob, running = false): void {
    try {
      this.d.store.transaction(() => {
        this.d.store.insertPending(job.jobId, job.controllerId, job.spec, this.d.clock.nowMs());
        if (job.inputs !== undefined && job.inputs.length > 0) this.d.store.files.insertInputs(job.jobId, job.inputs);
        if (running) this.transition(job.jobId, 'pending', 'running');
        this.d.audit.append({
          type: 'job.accepted',
          jobId: job.jobId,
          controllerId: job.controllerId,
          remoteAddr: job.remoteAddr,
          details: { ...job.auditDetails, image: job.spec.image, runtime: job.spec.runtime ?? DEFAULT_RUNTIME, cpu_limit: job.spec.cpuLimit, memory_limit: job.spec.memoryLimit, timeout_seconds: job.spec.timeoutSeconds },
        });
      });
    } catch (e) {
      if (asAgentError(e) !== null) throw e;
      // The audit and the job share one database: if the job cannot be written, neither can
      // its audit event, and no job may run unaudited.
      this.d.audit.markFailed();
      throw new AgentError('AUDIT_UNAVAILABLE', 'audit log unavailable', { cause: e });
    }
  }

  /** A non-terminal state change (pending → running). */
  transition(jobId: string, from: JobStatus, to: JobStatus): void {
    if (!canTransition(from, to)) throw new Error(`illegal job transition ${from} → ${to} for ${jobId}`);
    this.d.store.setStatus(jobId, to, this.d.clock.nowMs());
  }

  /** A terminal state with its result and the job.finished event, in one transaction. */
  record(rec: JobRecord, from: JobStatus, to: JobStatus, result: StoredResult, extra: Record<string, unknown>, artifacts: ArtifactCollection | null = null): void {
    if (!canTransition(from, to)) throw new Error(`illegal job transition ${from} → ${to} for ${rec.jobId}`);
    const files = artifactFields(rec.spec, artifacts);
    result = { ...result, ...files };
    extra = { ...extra, ...artifactAudit(files) };
    this.d.store.transaction(() => {
      this.d.store.finish(rec.jobId, to, result, this.d.clock.nowMs());
      this.d.store.files.finish(rec.jobId, artifacts?.files ?? []);
      this.d.audit.append({
        type: 'job.finished',
        jobId: rec.jobId,
        controllerId: rec.controllerId,
        details: { status: to, exit_code: result.exit_code, duration_ms: result.duration_ms, error: result.error, runtime: result.runtime, timed_out: result.timed_out, oom_killed: result.oom_killed, output_truncated: result.output_truncated, ...extra },
      });
    });
  }

  /** End a job that holds no container (cancelled while pending, container vanished). */
  finishWithoutRun(rec: JobRecord, status: 'cancelled' | 'failed', error: string): void {
    const totals = this.d.store.outputTotals(rec.jobId);
    const result: StoredResult = {
      sandbox_id: rec.sandboxId,
      exit_code: null,
      start_time: null,
      end_time: rfc3339(this.d.clock.nowMs()),
      duration_ms: 0,
      error,
      output_truncated: false,
      timed_out: false,
      oom_killed: false,
      runtime: runtimeOfJob(rec),
    };
    this.record(rec, rec.status, status, result, { stdout_bytes: totals.stdout, stderr_bytes: totals.stderr });
    this.d.metrics.finished(status, null, runtimeOfJob(rec));
    this.d.hub.end(rec.jobId, { lastSeq: totals.lastSeq, status, exitCode: null });
  }

  /** The wire result of a finished job (output assembled from stored frames), or null while it runs. */
  result(rec: JobRecord): JobResult | null {
    if (!isTerminal(rec.status) || rec.result === null) return null;
    const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    let after = 0;
    for (;;) {
      const frames = this.d.store.framesAfter(rec.jobId, after, 512);
      if (frames.length === 0) break;
      for (const f of frames) out[f.stream].push(f.data);
      after = (frames[frames.length - 1] as { seq: number }).seq;
    }
    return {
      job_id: rec.jobId,
      status: rec.status,
      ...rec.result,
      stdout: Buffer.concat(out.stdout).toString('utf8'),
      stderr: Buffer.concat(out.stderr).toString('utf8'),
    };
  }
}
