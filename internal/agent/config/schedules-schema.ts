/**
 * The `schedules` config key (SPEC §13) as a zod schema, spread into the main schema, and
 * the load-time checks zod cannot make: the cron parses (5 fields, or 6 with seconds) and
 * fires at all, the time zone is a known IANA zone, names are unique. Whether the command
 * is a named command and its parameters validate is checked by config.ts with §11's rules.
 */
import { Cron } from 'croner';
import { z } from 'zod';
import { ConfigError } from '../errors.js';

/** Controller ids of scheduled jobs start with this; no configured controller may. */
export const SCHEDULE_CONTROLLER_PREFIX = 'schedule:';

/** One schedule as the operator writes it. */
export const scheduleSchema = z.strictObject({
  /** Name in job ids (`sched-<name>-…`), the controller id `schedule:<name>` and metrics. */
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must match [a-z0-9][a-z0-9-]{0,62}'),
  /** Cron expression: 5 fields, or 6 with seconds first. */
  cron: z.string().min(1).max(256),
  /** IANA time zone the cron is read in. */
  timezone: z.string().min(1).max(64).default('UTC'),
  /** The named command (SPEC §11) each fire runs. */
  command: z.string().min(1).max(63),
  /** Its parameters, validated at load like a controller's. */
  params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  /** While the previous run is pending or running: skip this fire, queue it, or allow both. */
  overlap: z.enum(['skip', 'queue', 'allow']).default('skip'),
  /** latest: one run (at start, or after a forward clock jump) for the newest fire missed within max_lateness_seconds. */
  catch_up: z.enum(['none', 'latest']).default('none'),
  /** How late a fire may still be caught up. */
  max_lateness_seconds: z.number().int().positive().max(31 * 86400).default(3600),
  /** Each fire runs this many seconds late at most, the same delay every time for this agent and schedule. */
  jitter_seconds: z.number().int().nonnegative().max(3600).default(0),
  /** false keeps the schedule listed but never fires it. */
  enabled: z.boolean().default(true),
});

/** A schedule with its defaults applied. */
export type ScheduleConfig = z.infer<typeof scheduleSchema>;

/** The keys this file adds to the config file's schema. */
export const schedulesConfigShape = {
  /** Named commands run on a cron (SPEC §13); none by default. */
  schedules: z.array(scheduleSchema).max(256).default([]),
};

/** Build the croner instance of a schedule (paused: the agent's own loop decides when to fire). */
export function cronOf(s: Pick<ScheduleConfig, 'cron' | 'timezone'>): Cron {
  return new Cron(s.cron, { timezone: s.timezone, paused: true, mode: '5-or-6-parts' });
}

/** True when `tz` is a time zone name this runtime knows (IANA names such as Europe/Berlin, or UTC). */
export function knownTimeZone(tz: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Check what zod cannot: unique names, cron syntax, time zone, a next fire time. Throws ConfigError naming the key. */
export function checkSchedules(schedules: readonly ScheduleConfig[], controllerIds: readonly (readonly [key: string, id: string])[], nowMs: number): void {
  const seen = new Set<string>();
  schedules.forEach((s, i) => {
    const key = `schedules.${i}`;
    if (seen.has(s.name)) throw new ConfigError(`${key}.name`, `duplicate schedule name ${JSON.stringify(s.name)}`);
    seen.add(s.name);
    if (!knownTimeZone(s.timezone)) throw new ConfigError(`${key}.timezone`, `unknown time zone ${JSON.stringify(s.timezone)}; use an IANA name such as Europe/Berlin or UTC`);
    let cron: Cron;
    try {
      cron = cronOf(s);
    } catch (e) {
      throw new ConfigError(`${key}.cron`, `not a cron expression of 5 fields (or 6 with seconds): ${e instanceof Error ? e.message.replace(/^CronPattern: /, '') : String(e)}`);
    }
    if (cron.nextRun(new Date(nowMs)) === null) throw new ConfigError(`${key}.cron`, `${JSON.stringify(s.cron)} never fires`);
  });
  for (const [key, id] of controllerIds) {
    if (id.startsWith(SCHEDULE_CONTROLLER_PREFIX)) throw new ConfigError(key, `controller ids starting with ${SCHEDULE_CONTROLLER_PREFIX} are reserved for schedules`);
  }
}
