/**
 * `quickcmd job list`: the agent's answer to `GET /api/v1/jobs` narrowed at the edge, the
 * query built from the flags (checked here, exit 2, before anything is sent), and the
 * table (JOB, CONTROLLER, STATUS, EXIT, STARTED, DURATION, COMMAND cut to the width).
 */
import { SettingsError } from './controller-error.js';
import { formatDuration } from './render.js';
import type { JobState } from './wire.js';

/** One job of the list. */
export interface JobListEntry {
  readonly job_id: string;
  readonly controller_id: string;
  readonly status: JobState;
  readonly command: string;
  readonly exit_code: number | null;
  readonly created_at: string;
  readonly start_time: string | null;
  readonly end_time: string | null;
  readonly duration_ms: number | null;
}

/** `GET /api/v1/jobs`. */
export interface JobListReply {
  readonly jobs: readonly JobListEntry[];
  readonly more: boolean;
}

/** The flags of `job list`. */
export interface JobListFlags {
  readonly status?: string;
  readonly since?: string;
  readonly controller?: string;
  readonly limit?: number;
}

const STATES = new Set(['pending', 'running', 'completed', 'failed', 'cancelled', 'rejected']);
const RELATIVE = /^(\d{1,9})(s|m|h|d)$/;
const ABSOLUTE = /^(\d{1,12}|\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The query string for the flags; `--since 2h` becomes the absolute time two hours before `nowMs`. */
export function jobListQuery(f: JobListFlags, nowMs: number): string {
  const q = new URLSearchParams();
  if (f.status !== undefined) {
    const bad = f.status.split(',').find((s) => !STATES.has(s));
    if (bad !== undefined) throw new SettingsError(`--status ${JSON.stringify(bad)}: use pending, running, completed, failed, cancelled or rejected (comma-separated)`);
    q.set('status', f.status);
  }
  if (f.since !== undefined) {
    const rel = RELATIVE.exec(f.since);
    if (rel !== null) q.set('since', new Date(nowMs - Number(rel[1]) * (UNIT_MS[rel[2] as string] as number)).toISOString().replace(/\.\d{3}Z$/, 'Z'));
    else if (ABSOLUTE.test(f.since)) q.set('since', f.since);
    else throw new SettingsError(`--since ${JSON.stringify(f.since)}: use a time (2026-12-01, 2026-12-01T08:00:00Z, Unix seconds) or an age (90s, 15m, 2h, 7d)`);
  }
  if (f.controller !== undefined) q.set('controller', f.controller);
  if (f.limit !== undefined) {
    if (f.limit > 500) throw new SettingsError('--limit: at most 500');
    q.set('limit', String(f.limit));
  }
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Narrow the agent's answer; null when it is not a job list. */
export function parseJobList(text: string): JobListReply | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof body !== 'object' || body === null || !Array.isArray((body as Record<string, unknown>)['jobs'])) return null;
  const jobs: JobListEntry[] = [];
  for (const v of (body as { jobs: unknown[] }).jobs) {
    if (typeof v !== 'object' || v === null) return null;
    const r = v as Record<string, unknown>;
    const jobId = str(r['job_id']);
    const status = str(r['status']);
    if (jobId === null || status === null || !STATES.has(status)) return null;
    jobs.push({
      job_id: jobId,
      controller_id: str(r['controller_id']) ?? '',
      status: status as JobState,
      command: str(r['command']) ?? '',
      exit_code: num(r['exit_code']),
      created_at: str(r['created_at']) ?? '',
      start_time: str(r['start_time']),
      end_time: str(r['end_time']),
      duration_ms: num(r['duration_ms']),
    });
  }
  return { jobs, more: (body as Record<string, unknown>)['more'] === true };
}

/** RFC 3339 without milliseconds. */
function shortTime(t: string | null): string {
  return t === null || t === '' ? '-' : t.replace(/\.\d+Z$/, 'Z');
}

/** Pad to a width, counting characters. */
function pad(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - [...s].length));
}

/** The table; `width` cuts the COMMAND column (and so every line) to that many characters. */
export function renderJobList(reply: JobListReply, nowMs: number, width: number | null): string {
  const head = ['JOB', 'CONTROLLER', 'STATUS', 'EXIT', 'STARTED', 'DURATION', 'COMMAND'];
  const rows = reply.jobs.map((j) => {
    const running = j.status === 'running' && j.start_time !== null ? nowMs - Date.parse(j.start_time) : null;
    return [j.job_id, j.controller_id, j.status, j.exit_code === null ? '-' : String(j.exit_code), shortTime(j.start_time), formatDuration(j.duration_ms ?? running), j.command.replace(/\s+/g, ' ')];
  });
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => [...(r[i] as string)].length)));
  const lines = all.map((r) => {
    const line = r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i] as number))).join('  ').trimEnd();
    const chars = [...line];
    return width !== null && chars.length > width ? `${chars.slice(0, Math.max(1, width - 1)).join('')}…` : line;
  });
  const tail = reply.more ? [`(more jobs than --limit ${reply.jobs.length}; narrow with --since/--status or raise --limit)`] : [];
  return `${[...lines, ...tail].join('\n')}\n`;
}

/** Terminal width: COLUMNS when set, the terminal's own when stdout is one, else no cut. */
export function terminalWidth(env: Readonly<Record<string, string | undefined>>, out: { isTTY?: boolean; columns?: number }): number | null {
  const c = Number(env['COLUMNS']);
  if (Number.isInteger(c) && c >= 20) return c;
  return out.isTTY === true && typeof out.columns === 'number' && out.columns >= 20 ? out.columns : null;
}
