/**
 * The scheduler's metrics (SPEC §13), on the agent's own registry:
 * `quickcmd_agent_schedule_runs_total{schedule,outcome}` (started | skipped | missed) and
 * `quickcmd_agent_schedule_next_run_timestamp_seconds{schedule}`.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** What a fire became. */
export type ScheduleOutcome = 'started' | 'skipped' | 'missed';

/** Counters and gauges of the scheduler. */
export class ScheduleMetrics {
  private readonly runs: Counter<'schedule' | 'outcome'>;
  private readonly next: Gauge<'schedule'>;

  constructor(registry: Registry) {
    this.runs = new Counter({ name: 'quickcmd_agent_schedule_runs_total', help: 'Schedule fires, by schedule and outcome (started, skipped, missed).', labelNames: ['schedule', 'outcome'], registers: [registry] });
    this.next = new Gauge({ name: 'quickcmd_agent_schedule_next_run_timestamp_seconds', help: 'Unix time of the next fire of each enabled schedule.', labelNames: ['schedule'], registers: [registry] });
  }

  /** Count `n` fires of `schedule` with `outcome`. */
  count(schedule: string, outcome: ScheduleOutcome, n = 1): void {
    this.runs.inc({ schedule, outcome }, n);
  }

  /** Make a schedule's series appear at 0 before its first fire. */
  declare(schedule: string): void {
    for (const outcome of ['started', 'skipped', 'missed'] as const) this.runs.inc({ schedule, outcome }, 0);
  }

  /** Set (or, with null, remove) the next fire time of a schedule. */
  nextRun(schedule: string, atMs: number | null): void {
    if (atMs === null) this.next.remove({ schedule });
    else this.next.set({ schedule }, Math.floor(atMs / 1000));
  }
}
