/**
 * Pure schedule arithmetic (SPEC §13), no clock and no I/O: a schedule's next fire instant
 * after a given one (croner, guarded so the answer always moves forward), its
 * deterministic jitter, the job id of a fire, and the decision for the fires that fell
 * due between the last one considered and now: run the newest (on time, or late under
 * catch_up latest within max_lateness_seconds), the rest are missed.
 */
import crypto from 'node:crypto';
import type { Cron } from 'croner';
import { cronOf, SCHEDULE_CONTROLLER_PREFIX, type ScheduleConfig } from '../config/schedules-schema.js';

/** A fire observed at most this late still counts as on time (event-loop delays, a slow start). */
export const ON_TIME_MS = 10_000;
/** Fires counted one by one when many fell due at once; beyond, the count is a minimum. */
export const MAX_COUNTED_FIRES = 1000;
/** How far past a DST fold the forward search for the next fire may look. */
const FOLD_SEARCH_MS = 6 * 3600_000;

/** A schedule ready to plan with. */
export interface CompiledSchedule {
  readonly def: ScheduleConfig;
  readonly cron: Cron;
  /** Milliseconds every fire of this schedule runs after its instant, on this agent. */
  readonly jitterMs: number;
  /** Equal for equal definitions (a reload keeps the state of an unchanged schedule). */
  readonly key: string;
}

/** Compile a validated schedule for an agent. */
export function compileSchedule(def: ScheduleConfig, agentId: string): CompiledSchedule {
  return { def, cron: cronOf(def), jitterMs: jitterMs(agentId, def.name, def.jitter_seconds), key: JSON.stringify(def) };
}

/** The fixed delay in [0, seconds) of a schedule on an agent: SHA-256 of both, so it never changes between restarts. */
export function jitterMs(agentId: string, name: string, seconds: number): number {
  if (seconds <= 0) return 0;
  const h = crypto.createHash('sha256').update(`${agentId}\0${name}`).digest();
  return Math.floor((h.readUInt32BE(0) / 2 ** 32) * seconds) * 1000;
}

/** Controller id of a schedule's jobs. */
export function scheduleControllerId(name: string): string {
  return `${SCHEDULE_CONTROLLER_PREFIX}${name}`;
}

/** `sched-<name>-<YYYYMMDDTHHMMSSZ>` of the fire instant (UTC). */
export function fireJobId(name: string, instantMs: number): string {
  const iso = new Date(instantMs).toISOString();
  return `sched-${name}-${iso.slice(0, 19).replace(/[-:]/g, '')}Z`;
}

/** The fire instant of a schedule's job id, or null when the id is not one of its fires. */
export function instantOfJobId(name: string, jobId: string): number | null {
  const prefix = `sched-${name}-`;
  if (!jobId.startsWith(prefix)) return null;
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(jobId.slice(prefix.length));
  if (m === null) return null;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(t) ? null : t;
}

function croner(cron: Cron, fromMs: number): number | null {
  const d = cron.nextRun(new Date(fromMs));
  return d === null ? null : d.getTime();
}

/**
 * The first fire instant strictly after `afterMs`, or null when there is none. Croner reads
 * the cron on the wall clock of the zone: a time in a spring-forward gap fires at the same
 * distance after the gap (02:30 → 03:30), a time in an autumn fold fires once, at its first
 * occurrence. From inside the fold's second pass croner answers an instant in the past; then
 * the answer is searched forward (doubling, then bisection to the second), so the result
 * always moves forward and no instant is ever planned twice: the fold's second pass fires
 * nothing, as croner's own answer from before the fold says.
 */
export function nextInstant(cron: Cron, afterMs: number): number | null {
  const first = croner(cron, afterMs);
  if (first === null || first > afterMs) return first;
  let lo = afterMs;
  let hi = afterMs;
  for (let step = 1000; ; step *= 2) {
    if (step > FOLD_SEARCH_MS) return null;
    hi = afterMs + step;
    const r = croner(cron, hi);
    if (r === null) return null;
    if (r > afterMs) break;
    lo = hi;
  }
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    const r = croner(cron, mid);
    if (r !== null && r > afterMs) hi = mid;
    else lo = mid;
  }
  // Not `hi` itself: a second croner answered backwards from lies in the fold, and fires nothing there.
  return croner(cron, hi);
}

/** Fires that fell due in (cursor, now]. */
export interface DueFires {
  /** How many (a minimum when `capped`). */
  readonly count: number;
  readonly capped: boolean;
  readonly first: number | null;
  /** The newest due fire instant. */
  readonly last: number | null;
}

/** Fire instants of `s` after `cursorMs` whose time (instant + jitter) is at or before `nowMs`. */
export function dueFires(s: CompiledSchedule, cursorMs: number, nowMs: number): DueFires {
  const limit = nowMs - s.jitterMs;
  let count = 0;
  let first: number | null = null;
  let last: number | null = null;
  let at = cursorMs;
  for (;;) {
    const n = nextInstant(s.cron, at);
    if (n === null || n > limit) return { count, capped: false, first, last };
    first ??= n;
    last = n;
    count++;
    at = n;
    if (count >= MAX_COUNTED_FIRES) break;
  }
  // Too many to walk one by one (a long outage or a big clock jump on a fast schedule):
  // the newest one is found backwards from now.
  const prev = s.cron.previousRuns(1, new Date(Math.floor(limit / 1000) * 1000 + 1000))[0];
  const newest = prev === undefined ? last : Math.max(last ?? 0, prev.getTime());
  return { count, capped: newest !== last, first, last: newest };
}

/** What to do with the due fires of one schedule. */
export interface DuePlan {
  /** The fire instant to run now, or null. */
  readonly run: number | null;
  /** True when `run` is late beyond ON_TIME_MS (caught up under catch_up latest). */
  readonly late: boolean;
  /** Fires that will never run (audited as schedule.missed), or null. */
  readonly missed: { readonly count: number; readonly capped: boolean; readonly first: number; readonly last: number } | null;
  /** The new last-considered instant. */
  readonly cursor: number;
}

/** Decide the due fires of `s` between `cursorMs` and `nowMs`; null when none is due. */
export function planDue(s: CompiledSchedule, cursorMs: number, nowMs: number): DuePlan | null {
  const due = dueFires(s, cursorMs, nowMs);
  if (due.last === null || due.first === null) return null;
  const lateness = nowMs - (due.last + s.jitterMs);
  const runnable = lateness <= ON_TIME_MS || (s.def.catch_up === 'latest' && lateness <= s.def.max_lateness_seconds * 1000);
  const missedCount = runnable ? due.count - 1 : due.count;
  // When the newest runs, the missed ones are those before it: first … the one just before.
  const missedLast = runnable ? (due.count > 1 ? lastBefore(s, due.first, due.last) : null) : due.last;
  return {
    run: runnable ? due.last : null,
    late: runnable && lateness > ON_TIME_MS,
    missed: missedCount > 0 && missedLast !== null ? { count: missedCount, capped: due.capped, first: due.first, last: missedLast } : null,
    cursor: due.last,
  };
}

/** The fire instant just before `instant` (not before `floor`). */
function lastBefore(s: CompiledSchedule, floor: number, instant: number): number {
  const prev = s.cron.previousRuns(1, new Date(instant))[0];
  return prev === undefined || prev.getTime() < floor ? floor : prev.getTime();
}
