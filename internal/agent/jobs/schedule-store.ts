/**
 * What the database says about each schedule (SPEC §13): the last fire instant considered
 * (fired, skipped or missed) with the skipped and missed counts, and the newest job a
 * schedule ran, from the job ids accepted ever (which outlive job pruning).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../../audit/database.js';
import { parseStatus, type JobStatus, type StoredResult } from './job.js';

/** A schedule's persisted state. */
export interface ScheduleState {
  /** The last fire instant considered (epoch ms). */
  readonly lastInstant: number;
  readonly skipped: number;
  readonly missed: number;
}

/** The newest job of a schedule. */
export interface ScheduleLastRun {
  readonly jobId: string;
  /** Null when the job has been pruned (only its accepted id remains). */
  readonly status: JobStatus | null;
  readonly exitCode: number | null;
}

/** Prepared statements over schedule_state, accepted_job_ids and jobs. */
export class ScheduleStore {
  private readonly s: {
    load: Statement<[string]>;
    save: Statement<[string, number, number, number, number]>;
    lastAccepted: Statement<[string]>;
    job: Statement<[string]>;
  };

  constructor(db: Db) {
    this.s = {
      load: db.prepare('SELECT last_instant, skipped, missed FROM schedule_state WHERE name = ?'),
      save: db.prepare(
        `INSERT INTO schedule_state (name, last_instant, skipped, missed, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET last_instant = MAX(last_instant, excluded.last_instant), skipped = skipped + excluded.skipped,
           missed = missed + excluded.missed, updated_at = excluded.updated_at`,
      ),
      lastAccepted: db.prepare('SELECT MAX(job_id) AS id FROM accepted_job_ids WHERE controller_id = ?'),
      job: db.prepare('SELECT status, result FROM jobs WHERE job_id = ?'),
    };
  }

  /** The stored state of a schedule, or null for one never seen. */
  load(name: string): ScheduleState | null {
    const r = this.s.load.get(name) as { last_instant: number; skipped: number; missed: number } | undefined;
    return r === undefined ? null : { lastInstant: r.last_instant, skipped: r.skipped, missed: r.missed };
  }

  /** Move the cursor forward (never back) and add to the counts. */
  save(name: string, lastInstant: number, addSkipped: number, addMissed: number, nowMs: number): void {
    this.s.save.run(name, lastInstant, addSkipped, addMissed, nowMs);
  }

  /**
   * The newest job id accepted for `controllerId`. Fire ids embed their UTC instant
   * (`sched-<name>-YYYYMMDDTHHMMSSZ`), so the greatest id is the newest fire.
   */
  lastAcceptedId(controllerId: string): string | null {
    const r = this.s.lastAccepted.get(controllerId) as { id: string | null } | undefined;
    return r?.id ?? null;
  }

  /** The newest job of a schedule's controller, with its status when still stored. */
  lastRun(controllerId: string): ScheduleLastRun | null {
    const jobId = this.lastAcceptedId(controllerId);
    if (jobId === null) return null;
    const r = this.s.job.get(jobId) as { status: string; result: string | null } | undefined;
    if (r === undefined) return { jobId, status: null, exitCode: null };
    const result = r.result === null ? null : (JSON.parse(r.result) as StoredResult);
    return { jobId, status: parseStatus(r.status), exitCode: result?.exit_code ?? null };
  }
}
