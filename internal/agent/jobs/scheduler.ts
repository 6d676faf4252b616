/**
 * The scheduler (SPEC §13): one loop over every schedule, armed at most 60 s ahead from the
 * wall clock (so a clock jump is noticed within a minute), turning each fire into an
 * ordinary job through a sink (the job manager's door for schedules). The cursor of each
 * schedule — the last fire instant considered — only moves forward and is stored, so
 * neither a restart nor a backward clock jump fires an instant twice; fires that can no
 * longer run (a forward jump, an outage) are audited as schedule.missed, fires refused or
 * blocked by `overlap` as schedule.skipped.
 */
import type { AuditLog } from '../../audit/audit-log.js';
import type { CancelTimer, Clock, Timers } from '../clock.js';
import { rfc3339 } from '../clock.js';
import type { ScheduleConfig } from '../config/schedules-schema.js';
import type { Logger } from '../logger.js';
import type { ScheduleMetrics } from './schedule-metrics.js';
import { compileSchedule, fireJobId, instantOfJobId, nextInstant, planDue, scheduleControllerId, type CompiledSchedule } from './schedule-plan.js';
import type { ScheduleStore } from './schedule-store.js';
import type { ScheduleSink, ScheduleView } from './schedule-types.js';
import { scheduleView } from './schedule-view.js';

export type { ScheduleSink, ScheduleView, SubmitResult } from './schedule-types.js';

/** The loop never sleeps longer than this, whatever the next fire: wall-clock jumps are seen within it. */
export const MAX_ARM_MS = 60_000;
/** Fires waiting behind a running one under `overlap: queue`; beyond, a fire is skipped. */
export const MAX_QUEUED_FIRES = 16;

/** What the scheduler needs. */
export interface SchedulerDeps {
  readonly clock: Clock;
  readonly timers: Timers;
  readonly store: ScheduleStore;
  readonly sink: ScheduleSink;
  readonly audit: AuditLog;
  readonly metrics: ScheduleMetrics;
  readonly logger: Logger;
  readonly agentId: string;
}

interface Entry {
  s: CompiledSchedule;
  cursor: number;
  lastJobId: string | null;
  /** First tick after the agent started (or the schedule appeared): missed fires were missed while it was not running. */
  fresh: boolean;
  readonly waiting: number[];
  unwatch: (() => void) | null;
}

/** The schedule loop. */
export class Scheduler {
  private entries = new Map<string, Entry>();
  private timer: CancelTimer | null = null;
  private lastTickMs: number | null = null;
  private closed = false;

  constructor(private readonly d: SchedulerDeps) {}

  /** Load the schedules (cursors from the database) and run the first tick: catch-up and missed fires are decided here. */
  start(defs: readonly ScheduleConfig[]): void {
    this.entries = new Map(defs.map((def) => [def.name, this.load(def)]));
    this.tick();
  }

  /** Replace the set (SIGHUP): fires due under the old set are handled first; a kept schedule keeps its cursor. */
  replace(defs: readonly ScheduleConfig[]): void {
    if (this.closed) return;
    this.tick();
    const next = new Map<string, Entry>();
    for (const def of defs) {
      const old = this.entries.get(def.name);
      if (old === undefined) next.set(def.name, this.load(def));
      else {
        // A schedule enabled by this reload starts now: its disabled time is not "missed".
        if (!old.s.def.enabled && def.enabled) old.cursor = Math.max(old.cursor, this.d.clock.nowMs());
        old.s = compileSchedule(def, this.d.agentId);
        next.set(def.name, old);
      }
    }
    for (const [name, e] of this.entries) {
      if (next.has(name)) continue;
      this.dropWaiting(e, 'schedule removed from the config');
      this.d.metrics.nextRun(name, null);
    }
    this.entries = next;
    this.tick();
  }

  /** Handle every due fire, then re-arm. */
  tick(): void {
    if (this.closed) return;
    const now = this.d.clock.nowMs();
    if (this.lastTickMs !== null && now < this.lastTickMs - 1000) {
      this.d.logger.warn({ back_seconds: Math.round((this.lastTickMs - now) / 1000) }, 'wall clock moved back: schedules resume after their last fire instant, nothing fires twice');
    }
    this.lastTickMs = now;
    for (const e of this.entries.values()) {
      try {
        this.handle(e, now);
      } catch (err) {
        this.d.logger.error({ err, schedule: e.s.def.name }, 'schedule tick failed; retrying on the next tick');
      }
    }
    this.arm(now);
  }

  /** What `GET /api/v1/schedules` returns. */
  view(): ScheduleView[] {
    return [...this.entries.values()].map((e) => scheduleView(e.s, e.cursor, this.d.store, this.d.clock.nowMs()));
  }

  /** Stop the loop; fires still queued behind a run are audited as skipped. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer?.();
    this.timer = null;
    for (const e of this.entries.values()) {
      this.dropWaiting(e, 'agent stopped');
      // A disabled schedule's time is not missed: enabled after a restart, it starts from here.
      if (!e.s.def.enabled) {
        e.cursor = Math.max(e.cursor, this.d.clock.nowMs());
        this.persist(e, 0, 0);
      }
    }
  }

  private load(def: ScheduleConfig): Entry {
    const s = compileSchedule(def, this.d.agentId);
    const controller = scheduleControllerId(def.name);
    const state = this.d.store.load(def.name);
    const lastId = this.d.store.lastAcceptedId(controller);
    const fromJobs = lastId === null ? null : instantOfJobId(def.name, lastId);
    // The database decides: the newer of the stored cursor and the newest fire that became a
    // job. A schedule never seen starts now (nothing was missed before it existed).
    const known = Math.max(state?.lastInstant ?? -Infinity, fromJobs ?? -Infinity);
    const cursor = Number.isFinite(known) && def.enabled ? known : this.d.clock.nowMs();
    this.d.metrics.declare(def.name);
    return { s, cursor, lastJobId: lastId, fresh: true, waiting: [], unwatch: null };
  }

  private handle(e: Entry, now: number): void {
    const def = e.s.def;
    if (!def.enabled) {
      e.cursor = Math.max(e.cursor, now);
      return;
    }
    this.drain(e);
    const plan = planDue(e.s, e.cursor, now);
    const fresh = e.fresh;
    e.fresh = false;
    if (plan === null) return;
    e.cursor = plan.cursor;
    let missed = 0;
    if (plan.missed !== null) {
      missed = plan.missed.count;
      this.d.audit.append({
        type: 'schedule.missed',
        controllerId: scheduleControllerId(def.name),
        details: {
          schedule: def.name,
          count: plan.missed.count,
          count_is_minimum: plan.missed.capped,
          first_instant: rfc3339(plan.missed.first),
          last_instant: rfc3339(plan.missed.last),
          reason: fresh ? 'the agent was not running' : 'late: the wall clock jumped forward or the agent was stalled',
          lateness_seconds: Math.round((now - plan.missed.last - e.s.jitterMs) / 1000),
          catch_up: def.catch_up,
        },
      });
      this.d.metrics.count(def.name, 'missed', missed);
      this.d.logger.warn({ schedule: def.name, count: missed, first: rfc3339(plan.missed.first), last: rfc3339(plan.missed.last) }, 'schedule fires missed');
    }
    this.persist(e, 0, missed);
    if (plan.run !== null) this.fire(e, plan.run, plan.late);
  }

  private fire(e: Entry, instant: number, late: boolean): void {
    const def = e.s.def;
    const busy = e.lastJobId !== null && this.d.sink.isActive(e.lastJobId);
    switch (def.overlap) {
      case 'skip':
        if (busy) return this.skip(e, instant, 'OVERLAP', `the previous run ${e.lastJobId ?? ''} is still pending or running (overlap: skip)`);
        break;
      case 'queue':
        if (busy || e.waiting.length > 0) {
          if (e.waiting.length >= MAX_QUEUED_FIRES) return this.skip(e, instant, 'OVERLAP', `${MAX_QUEUED_FIRES} fires already wait behind ${e.lastJobId ?? ''} (overlap: queue)`);
          e.waiting.push(instant);
          this.watch(e);
          return;
        }
        break;
      case 'allow':
        break;
    }
    this.submit(e, instant, late);
  }

  private submit(e: Entry, instant: number, late: boolean): void {
    const def = e.s.def;
    const jobId = fireJobId(def.name, instant);
    const r = this.d.sink.submit(e.s, instant, jobId, late);
    switch (r.kind) {
      case 'accepted':
        e.lastJobId = jobId;
        this.d.metrics.count(def.name, 'started');
        return;
      case 'duplicate':
        // Already a job (accepted before a restart): the instant has run, once.
        e.lastJobId = jobId;
        return;
      case 'refused':
        return this.skip(e, instant, r.code, r.reason);
    }
  }

  private skip(e: Entry, instant: number, code: string, reason: string): void {
    const def = e.s.def;
    try {
      this.d.audit.append({
        type: 'schedule.skipped',
        jobId: fireJobId(def.name, instant),
        controllerId: scheduleControllerId(def.name),
        details: { schedule: def.name, fire_instant: rfc3339(instant), code, reason, previous_job: e.lastJobId },
      });
    } finally {
      this.d.metrics.count(def.name, 'skipped');
      this.persist(e, 1, 0);
    }
  }

  /** Store the cursor and counts; a failed write is logged (the accepted job ids still bound a restart). */
  private persist(e: Entry, skipped: number, missed: number): void {
    try {
      this.d.store.save(e.s.def.name, e.cursor, skipped, missed, this.d.clock.nowMs());
    } catch (err) {
      this.d.logger.error({ err, schedule: e.s.def.name }, 'could not store the schedule cursor');
    }
  }

  /** overlap: queue — submit waiting fires once the previous run has ended. */
  private drain(e: Entry): void {
    while (e.waiting.length > 0 && (e.lastJobId === null || !this.d.sink.isActive(e.lastJobId))) {
      this.submit(e, e.waiting.shift() as number, true);
    }
    if (e.waiting.length > 0) this.watch(e);
  }

  private watch(e: Entry): void {
    if (e.unwatch !== null || e.lastJobId === null) return;
    const jobId = e.lastJobId;
    e.unwatch = this.d.sink.onEnd(jobId, () => {
      e.unwatch = null;
      // Not inside the job manager's completion: the next fire is submitted on the next turn.
      setImmediate(() => {
        if (this.closed) return;
        this.drain(e);
        this.arm(this.d.clock.nowMs());
      });
    });
  }

  private dropWaiting(e: Entry, why: string): void {
    e.unwatch?.();
    e.unwatch = null;
    for (const instant of e.waiting.splice(0)) {
      try {
        this.skip(e, instant, 'OVERLAP', `queued behind ${e.lastJobId ?? ''}; ${why}`);
      } catch (err) {
        this.d.logger.error({ err, schedule: e.s.def.name }, 'could not audit a dropped queued fire');
      }
    }
  }

  private arm(now: number): void {
    this.timer?.();
    this.timer = null;
    let wake: number | null = null;
    for (const e of this.entries.values()) {
      const at = e.s.def.enabled ? nextInstant(e.s.cron, e.cursor) : null;
      const fireAt = at === null ? null : at + e.s.jitterMs;
      this.d.metrics.nextRun(e.s.def.name, fireAt);
      if (fireAt !== null && (wake === null || fireAt < wake)) wake = fireAt;
    }
    if (wake === null || this.closed) return;
    this.timer = this.d.timers.set(() => this.tick(), Math.min(MAX_ARM_MS, Math.max(0, wake - now)));
  }
}
