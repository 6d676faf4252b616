/**
 * Prometheus metrics on the agent's own registry (SPEC §8). Values are updated at the
 * source of truth (intake, job manager, sandbox output, stream server), never recomputed
 * at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StreamName } from '../sandbox/sandbox.js';
import type { TerminalStatus } from './wire/job-states.js';

/** All metrics of the agent, owned by one registry. */
export class AgentMetrics {
  readonly registry = new Registry();
  /** Jobs accepted (the original's name). */
  readonly jobsTotal: Counter;
  /** Jobs running now (the original's name). */
  readonly jobsRunning: Gauge;
  /** Jobs that completed (the original's name). */
  readonly jobsCompleted: Counter;
  /** Jobs that failed (the original's name). */
  readonly jobsFailed: Counter;
  /** Jobs waiting for a slot. */
  readonly jobsQueued: Gauge;
  /** Finished jobs by terminal status. */
  readonly jobsFinished: Counter<'status'>;
  /** Rejected submissions by error code. */
  readonly jobsRejected: Counter<'code'>;
  /** Wall time of jobs from container start to end, per runtime (SPEC §14). */
  readonly jobDuration: Histogram<'runtime'>;
  /** Time to create, attach and start a container, per runtime. */
  readonly sandboxStart: Histogram<'runtime'>;
  /** Output bytes received from containers, per stream (before the cap). */
  readonly outputBytes: Counter<'stream'>;
  /** WebSocket followers connected now. */
  readonly streamClients: Gauge;
  /** 1 when the Docker engine answers. */
  readonly dockerUp: Gauge;
  /** 1 while the broker connection is up (0 without a broker or while it is down). */
  readonly brokerUp: Gauge;
  /** Broker connections re-established after a loss. */
  readonly brokerReconnects: Counter;

  constructor(version: string) {
    const registers = [this.registry];
    this.jobsTotal = new Counter({ name: 'quickcmd_agent_jobs_total', help: 'Jobs accepted.', registers });
    this.jobsRunning = new Gauge({ name: 'quickcmd_agent_jobs_running', help: 'Jobs running now.', registers });
    this.jobsCompleted = new Counter({ name: 'quickcmd_agent_jobs_completed', help: 'Jobs that ran to their own exit.', registers });
    this.jobsFailed = new Counter({ name: 'quickcmd_agent_jobs_failed', help: 'Jobs that could not run to their own exit.', registers });
    this.jobsQueued = new Gauge({ name: 'quickcmd_agent_jobs_queued', help: 'Jobs waiting for a free slot.', registers });
    this.jobsFinished = new Counter({
      name: 'quickcmd_agent_jobs_finished_total',
      help: 'Jobs finished, by terminal status.',
      labelNames: ['status'],
      registers,
    });
    this.jobsRejected = new Counter({
      name: 'quickcmd_agent_jobs_rejected_total',
      help: 'Submissions rejected, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.jobDuration = new Histogram({
      name: 'quickcmd_agent_job_duration_seconds',
      help: 'Job duration from container start to exit, per isolation runtime.',
      labelNames: ['runtime'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600],
      registers,
    });
    this.sandboxStart = new Histogram({
      name: 'quickcmd_agent_sandbox_start_seconds',
      help: 'Time to create, attach and start a sandbox container, per isolation runtime.',
      labelNames: ['runtime'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5],
      registers,
    });
    this.outputBytes = new Counter({
      name: 'quickcmd_agent_output_bytes_total',
      help: 'Output bytes received from sandboxes, per stream.',
      labelNames: ['stream'],
      registers,
    });
    this.streamClients = new Gauge({ name: 'quickcmd_agent_stream_clients', help: 'Live-log WebSocket clients connected.', registers });
    this.dockerUp = new Gauge({ name: 'quickcmd_agent_docker_up', help: '1 when the Docker engine answers, else 0.', registers });
    this.brokerUp = new Gauge({ name: 'quickcmd_agent_broker_up', help: '1 while the NATS broker connection is up, else 0.', registers });
    this.brokerReconnects = new Counter({ name: 'quickcmd_agent_broker_reconnects_total', help: 'NATS broker connections re-established after a loss.', registers });
    const buildInfo = new Gauge({ name: 'quickcmd_agent_build_info', help: 'Build information.', labelNames: ['version'], registers });
    buildInfo.set({ version }, 1);
    for (const s of ['stdout', 'stderr'] as const) this.outputBytes.inc({ stream: s }, 0);
    this.jobsFinished.inc({ status: 'completed' }, 0);
    collectDefaultMetrics({ register: this.registry });
  }

  /** Count a job's end (both the original's counters and the labelled one). */
  finished(status: TerminalStatus, durationSeconds: number | null, runtime: string): void {
    this.jobsFinished.inc({ status });
    if (status === 'completed') this.jobsCompleted.inc();
    else if (status === 'failed') this.jobsFailed.inc();
    if (durationSeconds !== null) this.jobDuration.observe({ runtime }, durationSeconds);
  }

  /** Count output bytes. */
  output(stream: StreamName, bytes: number): void {
    this.outputBytes.inc({ stream }, bytes);
  }

  /** Export the audit backlog (non-zero only while the database fails), read at each scrape. */
  watchAuditBacklog(read: () => { rows: number; bytes: number; counted: number }): void {
    const registers = [this.registry];
    new Gauge({ name: 'quickcmd_agent_audit_backlog_rows', help: 'Audit events waiting to be written (the database is failing).', registers, collect() { this.set(read().rows); } });
    new Gauge({ name: 'quickcmd_agent_audit_backlog_bytes', help: 'Bytes of audit events waiting to be written.', registers, collect() { this.set(read().bytes); } });
    new Gauge({ name: 'quickcmd_agent_audit_counted_events', help: 'Rejections counted for a summary row and not yet written.', registers, collect() { this.set(read().counted); } });
  }
}
