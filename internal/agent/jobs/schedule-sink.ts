/**
 * The door for scheduled fires (SPEC §13): a fire becomes an ordinary job of controller
 * `schedule:<name>` through the job manager, after the checks a submission gets once it
 * is verified — the duplicate id (a restart never runs one instant twice), the command
 * policy and limits (through `specFor`), shutdown, queue capacity, the engine. A refusal
 * is returned, never thrown: the scheduler audits it as schedule.skipped.
 */
import type { Registry } from 'prom-client';
import type { AuditLog } from '../../audit/audit-log.js';
import type { Db } from '../../audit/database.js';
import { rfc3339, type Clock, type Timers } from '../clock.js';
import { scheduleSpec } from '../door/schedule-command.js';
import type { Logger } from '../logger.js';
import { ScheduleMetrics } from './schedule-metrics.js';
import { ScheduleStore } from './schedule-store.js';
import type { AgentConfig } from '../config/config.js';
import type { ScheduleConfig } from '../config/schedules-schema.js';
import type { DockerHealth } from '../engine/docker-health.js';
import { AgentError, RejectionError } from '../errors.js';
import type { OutputHub } from '../stream/output-hub.js';
import type { JobManager } from './job-manager.js';
import { isTerminal, type JobSpec } from './job.js';
import { scheduleControllerId, type CompiledSchedule } from './schedule-plan.js';
import { Scheduler, type ScheduleSink, type SubmitResult } from './scheduler.js';

/** A schedule's job spec and the audit details of its command under the current config; throws RejectionError. */
export type ScheduleSpecFor = (s: ScheduleConfig, cfg: AgentConfig) => { readonly spec: JobSpec; readonly details: Readonly<Record<string, unknown>> };

/** What the sink needs. */
export interface ScheduleSinkDeps {
  readonly manager: JobManager;
  readonly hub: OutputHub;
  readonly docker: DockerHealth;
  readonly config: () => AgentConfig;
  readonly specFor: ScheduleSpecFor;
}

/** The agent's sink: fires through the job manager. */
export function managerSink(d: ScheduleSinkDeps): ScheduleSink {
  return {
    submit(s: CompiledSchedule, instantMs: number, jobId: string, late: boolean): SubmitResult {
      const m = d.manager;
      if (m.get(jobId) !== null || m.wasAccepted(jobId)) return { kind: 'duplicate' };
      try {
        const { spec, details } = d.specFor(s.def, d.config());
        if (!m.isAccepting) throw new AgentError('SHUTTING_DOWN', 'agent is shutting down');
        m.checkCapacity();
        if (!d.docker.up) throw new AgentError('DOCKER_UNAVAILABLE', 'container engine unavailable');
        m.accept({
          jobId,
          controllerId: scheduleControllerId(s.def.name),
          spec,
          remoteAddr: null,
          auditDetails: { ...details, schedule: s.def.name, fire_instant: rfc3339(instantMs), late },
        });
        return { kind: 'accepted' };
      } catch (e) {
        if (e instanceof RejectionError) return { kind: 'refused', code: e.code, reason: e.reason };
        if (e instanceof AgentError) return { kind: 'refused', code: e.code, reason: e.message };
        return { kind: 'refused', code: 'INTERNAL', reason: e instanceof Error ? e.message : String(e) };
      }
    },
    isActive(jobId: string): boolean {
      const rec = d.manager.get(jobId);
      return rec !== null && !isTerminal(rec.status);
    },
    onEnd(jobId: string, fn: () => void): () => void {
      const off = d.hub.subscribe(jobId, { frame: () => undefined, end: () => fn() });
      // Ended between the check and the subscription: the hub will not call again.
      const rec = d.manager.get(jobId);
      if (rec === null || isTerminal(rec.status)) {
        off();
        setImmediate(fn);
      }
      return off;
    },
  };
}

/** Everything the agent wires the scheduler from. */
export interface SchedulerWiring {
  readonly db: Db;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly manager: JobManager;
  readonly hub: OutputHub;
  readonly docker: DockerHealth;
  readonly config: () => AgentConfig;
  readonly audit: AuditLog;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly agentId: string;
}

/** The agent's scheduler: fires through the job manager, named commands resolved by §11's rules. */
export function buildScheduler(w: SchedulerWiring): Scheduler {
  const sink = managerSink({ manager: w.manager, hub: w.hub, docker: w.docker, config: w.config, specFor: scheduleSpec });
  return new Scheduler({ clock: w.clock, timers: w.timers, store: new ScheduleStore(w.db), sink, audit: w.audit, metrics: new ScheduleMetrics(w.registry), logger: w.logger, agentId: w.agentId });
}
