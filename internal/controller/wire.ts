/**
 * The agent's answers as this side reads them (SPEC §3, §4, §6), narrowed from `unknown`
 * at the edge so the rest of the controller works with typed values.
 */
import { narrowArtifactFields } from './job-files.js';
import { asJobStatus, isTerminal, type JobStatus } from '../agent/wire/job-states.js';

/** Job states (SPEC §4), as the one wire module defines them. */
export type JobState = JobStatus;

/** A finished job's result (SPEC §4). */
export interface JobResult {
  readonly job_id: string;
  readonly status: JobState;
  readonly sandbox_id: string | null;
  readonly exit_code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly start_time: string | null;
  readonly end_time: string | null;
  readonly duration_ms: number | null;
  readonly error: string | null;
  readonly output_truncated: boolean;
  readonly timed_out: boolean;
  readonly oom_killed: boolean;
  /** Isolation runtime the job ran under (SPEC §14); null from an agent before it. */
  readonly runtime: string | null;
  /** Collected artifacts (SPEC §12), present when the job asked for some. */
  readonly artifacts?: readonly { readonly path: string; readonly size: number; readonly sha256: string }[];
  readonly artifacts_skipped?: readonly { readonly path: string; readonly reason: string }[];
  readonly artifacts_truncated?: boolean;
  readonly artifacts_error?: string | null;
}

/** `GET /api/v1/jobs/:id`. */
export interface JobStatusReply {
  readonly job_id: string;
  readonly status: JobState;
  /** Null until the job ends. */
  readonly result: JobResult | null;
}

/** One output frame of the live stream. */
export interface OutputFrame {
  readonly final: false;
  readonly seq: number;
  /** When the agent read the output (RFC 3339); null when polled from a stored result. */
  readonly timestamp: string | null;
  readonly stream: 'stdout' | 'stderr';
  readonly data: string;
}

/** The last frame of the live stream. */
export interface FinalFrame {
  readonly final: true;
  readonly seq: number;
  readonly status: JobState;
  readonly exit_code: number | null;
}

/** A live-stream frame. */
export type StreamFrame = OutputFrame | FinalFrame;

/** True for completed, failed, cancelled and rejected. */
export function isFinished(s: JobState): boolean {
  return isTerminal(s);
}

function record(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function state(v: unknown): JobState | null {
  return asJobStatus(v);
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null);

function narrowResult(v: unknown): JobResult | null {
  const r = record(v);
  if (r === null) return null;
  const status = state(r['status']);
  const jobId = str(r['job_id']);
  if (status === null || jobId === null) return null;
  return {
    job_id: jobId,
    status,
    sandbox_id: str(r['sandbox_id']),
    exit_code: int(r['exit_code']),
    stdout: str(r['stdout']) ?? '',
    stderr: str(r['stderr']) ?? '',
    start_time: str(r['start_time']),
    end_time: str(r['end_time']),
    duration_ms: typeof r['duration_ms'] === 'number' ? r['duration_ms'] : null,
    error: str(r['error']),
    output_truncated: r['output_truncated'] === true,
    timed_out: r['timed_out'] === true,
    oom_killed: r['oom_killed'] === true,
    runtime: str(r['runtime']),
    ...narrowArtifactFields(r),
  };
}

/** The JSON object in `text`, or null when it is not JSON or not an object. */
function jsonRecord(text: string): Record<string, unknown> | null {
  try {
    return record(JSON.parse(text) as unknown);
  } catch {
    return null;
  }
}

/** Narrow a status answer; null when it is not one. */
export function parseStatusReply(text: string): JobStatusReply | null {
  const r = jsonRecord(text);
  if (r === null) return null;
  const status = state(r['status']);
  const jobId = str(r['job_id']);
  if (status === null || jobId === null) return null;
  const result = r['result'] === null || r['result'] === undefined ? null : narrowResult(r['result']);
  if (result === null && r['result'] !== null && r['result'] !== undefined) return null;
  return { job_id: jobId, status, result };
}

/** Narrow one stream message; null when it is not a frame. */
export function parseFrame(text: string): StreamFrame | null {
  const r = jsonRecord(text);
  if (r === null) return null;
  const seq = int(r['seq']);
  if (seq === null || seq < 0) return null;
  if (r['final'] === true) {
    const status = state(r['status']);
    if (status === null) return null;
    return { final: true, seq, status, exit_code: int(r['exit_code']) };
  }
  const stream = r['stream'];
  const data = str(r['data']);
  if ((stream !== 'stdout' && stream !== 'stderr') || data === null) return null;
  return { final: false, seq, timestamp: str(r['timestamp']), stream, data };
}
