/**
 * One schedule as `GET /api/v1/schedules` shows it (SPEC §13): its definition, the next fire
 * from its cursor, and what the database says of its last run and its counts.
 */
import { rfc3339 } from '../clock.js';
import { nextInstant, scheduleControllerId, type CompiledSchedule } from './schedule-plan.js';
import type { ScheduleLastRun, ScheduleStore } from './schedule-store.js';
import type { ScheduleView } from './schedule-types.js';

/** The view of schedule `s` whose last fire instant considered is `cursor`, at `nowMs`. */
export function scheduleView(s: CompiledSchedule, cursor: number, store: ScheduleStore, nowMs: number): ScheduleView {
  const def = s.def;
  const state = store.load(def.name);
  const last: ScheduleLastRun | null = store.lastRun(scheduleControllerId(def.name));
  const next = def.enabled ? nextInstant(s.cron, Math.max(cursor, nowMs - s.jitterMs)) : null;
  return {
    name: def.name,
    cron: def.cron,
    timezone: def.timezone,
    command: def.command,
    enabled: def.enabled,
    overlap: def.overlap,
    next_run: next === null ? null : rfc3339(next + s.jitterMs),
    last_run: last === null ? null : { job_id: last.jobId, status: last.status, exit_code: last.exitCode },
    skipped: state?.skipped ?? 0,
    missed: state?.missed ?? 0,
  };
}
