/**
 * The scheduler's narrow interfaces (SPEC §13): the sink a fire is submitted to (the job
 * manager's door for schedules, in schedule-sink.ts) and a schedule as the API shows it.
 */
import type { ScheduleConfig } from '../config/schedules-schema.js';
import type { CompiledSchedule } from './schedule-plan.js';

/** What the sink did with a fire. */
export type SubmitResult = { readonly kind: 'accepted' } | { readonly kind: 'duplicate' } | { readonly kind: 'refused'; readonly code: string; readonly reason: string };

/** Where fires become jobs. */
export interface ScheduleSink {
  /** Submit the fire `instantMs` of `s` as job `jobId` (controller schedule:<name>). Never throws. */
  submit(s: CompiledSchedule, instantMs: number, jobId: string, late: boolean): SubmitResult;
  /** True while the job is pending or running. */
  isActive(jobId: string): boolean;
  /** Call `fn` once when the job ends; returns the unsubscribe function. */
  onEnd(jobId: string, fn: () => void): () => void;
}

/** One schedule as `GET /api/v1/schedules` shows it. */
export interface ScheduleView {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string;
  readonly command: string;
  readonly enabled: boolean;
  readonly overlap: ScheduleConfig['overlap'];
  readonly next_run: string | null;
  readonly last_run: { readonly job_id: string; readonly status: string | null; readonly exit_code: number | null } | null;
  readonly skipped: number;
  readonly missed: number;
}
