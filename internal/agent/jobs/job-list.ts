/**
 * The job list (SPEC §13, `GET /api/v1/jobs`): newest first, filtered by status, creation
 * time and controller, bounded by `limit`. Read-only over the jobs table, served by the
 * indexes of migration 2 (jobs_created, jobs_controller_created).
 */
import type { Db } from '../../audit/database.js';
import { rfc3339 } from '../clock.js';
import { parseStatus, type JobSpec, type JobStatus, type StoredResult } from './job.js';

/** Most rows one request may ask for. */
export const MAX_JOB_LIST_LIMIT = 500;
/** Rows when `limit` is not given. */
export const DEFAULT_JOB_LIST_LIMIT = 50;
/** Characters of a command shown in the list (the status route has all of it). */
export const LIST_COMMAND_CHARS = 256;

/** What to list. */
export interface JobListFilter {
  /** Only these states (any when empty). */
  readonly statuses: readonly JobStatus[];
  /** Only jobs created at or after this epoch millisecond. */
  readonly sinceMs: number | null;
  /** Only this controller's jobs. */
  readonly controllerId: string | null;
  /** Only jobs of these controllers (the caller's own); null = every job (scope jobs:read-all). */
  readonly visibleTo: ReadonlySet<string> | null;
  readonly limit: number;
}

/** One row of the list, as the API returns it. */
export interface JobListItem {
  readonly job_id: string;
  readonly controller_id: string;
  readonly status: JobStatus;
  readonly command: string;
  readonly exit_code: number | null;
  readonly created_at: string;
  readonly start_time: string | null;
  readonly end_time: string | null;
  readonly duration_ms: number | null;
}

/** A page of the list; `more` says rows were left off by `limit`. */
export interface JobListPage {
  readonly jobs: readonly JobListItem[];
  readonly more: boolean;
}

interface ListRow {
  job_id: string;
  controller_id: string;
  status: string;
  spec: string;
  created_at: number;
  updated_at: number;
  sandbox_id: string | null;
  result: string | null;
}

/** How a job's command reads in one line: the shell command, or a named command with its parameters. */
export function describeCommand(spec: JobSpec): string {
  const named = spec.named;
  const text = named !== undefined
    ? [named.name, ...Object.entries(named.params).map(([k, v]) => `${k}=${String(v)}`)].join(' ')
    : spec.command;
  return text.length > LIST_COMMAND_CHARS ? `${text.slice(0, LIST_COMMAND_CHARS - 1)}…` : text;
}

function toItem(r: ListRow): JobListItem {
  const status = parseStatus(r.status);
  const result = r.result === null ? null : (JSON.parse(r.result) as StoredResult);
  // A running job's row was last updated when its container started (JobStore.setSandbox).
  const runningSince = status === 'running' && r.sandbox_id !== null ? rfc3339(r.updated_at) : null;
  return {
    job_id: r.job_id,
    controller_id: r.controller_id,
    status,
    command: describeCommand(JSON.parse(r.spec) as JobSpec),
    exit_code: result?.exit_code ?? null,
    created_at: rfc3339(r.created_at),
    start_time: result?.start_time ?? runningSince,
    end_time: result?.end_time ?? null,
    duration_ms: result === null ? null : result.duration_ms,
  };
}

/** List jobs, newest first. */
export function listJobs(db: Db, f: JobListFilter): JobListPage {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (f.statuses.length > 0) {
    where.push(`status IN (${f.statuses.map(() => '?').join(',')})`);
    params.push(...f.statuses);
  }
  if (f.sinceMs !== null) {
    where.push('created_at >= ?');
    params.push(f.sinceMs);
  }
  if (f.controllerId !== null) {
    where.push('controller_id = ?');
    params.push(f.controllerId);
  }
  if (f.visibleTo !== null) {
    if (f.visibleTo.size === 0) return { jobs: [], more: false };
    where.push(`controller_id IN (${[...f.visibleTo].map(() => '?').join(',')})`);
    params.push(...f.visibleTo);
  }
  const limit = Math.max(1, Math.min(MAX_JOB_LIST_LIMIT, f.limit));
  const sql = `SELECT job_id, controller_id, status, spec, created_at, updated_at, sandbox_id, result FROM jobs${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, queue_seq DESC LIMIT ?`;
  const rows = db.prepare(sql).all(...params, limit + 1) as ListRow[];
  return { jobs: rows.slice(0, limit).map(toItem), more: rows.length > limit };
}
