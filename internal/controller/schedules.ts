/**
 * `quickcmd schedules`: the agent's answer to `GET /api/v1/schedules` (scope
 * jobs:read-all) narrowed at the edge, and its table (NAME, CRON, TZ, NEXT, LAST, SKIPPED).
 */
import { formatTable } from './render.js';

/** One schedule as the agent reports it. */
export interface ScheduleEntry {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string;
  readonly command: string;
  readonly enabled: boolean;
  readonly overlap: string;
  readonly next_run: string | null;
  readonly last_run: { readonly job_id: string; readonly status: string | null; readonly exit_code: number | null } | null;
  readonly skipped: number;
  readonly missed: number;
}

/** `GET /api/v1/schedules`. */
export interface ScheduleListReply {
  readonly schedules: readonly ScheduleEntry[];
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const count = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0);

/** Narrow the agent's answer; null when it is not a schedule list. */
export function parseScheduleList(text: string): ScheduleListReply | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  const list = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['schedules'] : undefined;
  if (!Array.isArray(list)) return null;
  const schedules: ScheduleEntry[] = [];
  for (const v of list) {
    if (typeof v !== 'object' || v === null) return null;
    const r = v as Record<string, unknown>;
    const name = str(r['name']);
    const cron = str(r['cron']);
    if (name === null || cron === null) return null;
    const last = typeof r['last_run'] === 'object' && r['last_run'] !== null ? (r['last_run'] as Record<string, unknown>) : null;
    const lastId = last === null ? null : str(last['job_id']);
    schedules.push({
      name,
      cron,
      timezone: str(r['timezone']) ?? 'UTC',
      command: str(r['command']) ?? '',
      enabled: r['enabled'] !== false,
      overlap: str(r['overlap']) ?? '',
      next_run: str(r['next_run']),
      last_run: last === null || lastId === null ? null : { job_id: lastId, status: str(last['status']), exit_code: typeof last['exit_code'] === 'number' ? last['exit_code'] : null },
      skipped: count(r['skipped']),
      missed: count(r['missed']),
    });
  }
  return { schedules };
}

/** The table. */
export function renderScheduleList(reply: ScheduleListReply): string {
  const rows = reply.schedules.map((s) => {
    const next = !s.enabled ? 'disabled' : s.next_run === null ? '-' : s.next_run.replace(/\.\d+Z$/, 'Z');
    const l = s.last_run;
    const last = l === null ? '-' : `${l.job_id} (${l.status ?? 'pruned'}${l.exit_code === null ? '' : `, exit ${l.exit_code}`})`;
    return [s.name, s.cron, s.timezone, next, last, String(s.skipped)];
  });
  return formatTable([['NAME', 'CRON', 'TZ', 'NEXT', 'LAST', 'SKIPPED'], ...rows]);
}
