/**
 * The job model: the transition table over the states of wire/job-states.ts (the only
 * legal state changes), the execution spec derived from a verified payload, the accepted
 * job, and the result shape of SPEC §4.
 */
import type { InputFile } from '../../sandbox/sandbox.js';
import { asJobStatus, type JobStatus } from '../wire/job-states.js';

import type { RuntimeName } from '../../sandbox/runtimes.js';

// The states themselves are wire vocabulary, defined once in wire/job-states.ts.
export { isTerminal, type JobStatus, type TerminalStatus } from '../wire/job-states.js';

/** Legal transitions; anything else is a bug and throws. */
const TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  pending: ['running', 'cancelled', 'rejected', 'failed'],
  running: ['completed', 'failed', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
  rejected: [],
};

/** True when `from → to` is allowed by the transition table. */
export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Narrow a stored string into a JobStatus. */
export function parseStatus(s: string): JobStatus {
  const status = asJobStatus(s);
  if (status === null) throw new Error(`unknown job status ${JSON.stringify(s)} in database`);
  return status;
}

/** A job the intake verified and admitted, as the job manager takes it. */
export interface AcceptedJob {
  readonly jobId: string;
  readonly controllerId: string;
  readonly spec: JobSpec;
  /** Input files with their content (SPEC §12), stored with the job. */
  readonly inputs?: readonly InputFile[];
  readonly remoteAddr: string | null;
  /** Extra audit details (payload summary: command, prompt, scopes, ttl). */
  readonly auditDetails: Readonly<Record<string, unknown>>;
}

/** A named command's call as accepted (SPEC §11): what `job.accepted` records. */
export interface NamedRun {
  readonly name: string;
  /** Parameters with defaults filled in. */
  readonly params: Readonly<Record<string, string | number | boolean>>;
  /** SHA-256 of the definition the job was accepted with. */
  readonly sha256: string;
}

/** What to run and with which limits; fixed at acceptance (config ceilings already applied). */
export interface JobSpec {
  /** Shell command line (`/bin/sh -c`); "" for a named command. */
  readonly command: string;
  /** A named command's argv, resolved at acceptance (run without a shell); absent for shell jobs. */
  readonly argv?: readonly string[];
  /** The named command's call; absent for shell jobs. */
  readonly named?: NamedRun;
  readonly image: string;
  /** Docker runtime chosen at acceptance (SPEC §14); absent in jobs stored before it, which ran under runc. */
  readonly runtime?: RuntimeName;
  readonly cpuLimit: number;
  readonly memoryLimit: number;
  readonly timeoutSeconds: number;
  readonly pidsLimit: number;
  readonly env: Readonly<Record<string, string>>;
  readonly requiredScopes: readonly string[];
  /** Input files (SPEC §12) without content (that is in job_inputs); absent: none. */
  readonly files?: readonly InputMeta[];
  /** Artifact paths to collect (SPEC §12); absent: none. */
  readonly artifacts?: readonly string[];
}

/** An input file as recorded with the job and in job.accepted. */
export interface InputMeta {
  readonly path: string;
  readonly mode: '0644' | '0755';
  readonly size: number;
  readonly sha256: string;
}

/** One collected artifact as the result lists it. */
export interface ArtifactEntry {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** The stored outcome of a finished job, without output (output lives in job_output). */
export interface StoredResult {
  readonly sandbox_id: string | null;
  readonly exit_code: number | null;
  readonly start_time: string | null;
  readonly end_time: string;
  readonly duration_ms: number;
  readonly error: string | null;
  readonly output_truncated: boolean;
  readonly timed_out: boolean;
  readonly oom_killed: boolean;
  /** Docker runtime the job ran (or would have run) under (SPEC §14). */
  readonly runtime: string;
  /** Present when the job asked for artifacts (SPEC §12). */
  readonly artifacts?: readonly ArtifactEntry[];
  readonly artifacts_skipped?: readonly { readonly path: string; readonly reason: string }[];
  readonly artifacts_truncated?: boolean;
  /** Why collection did not complete, when it did not. */
  readonly artifacts_error?: string | null;
}

/** The wire result (SPEC §4). */
export interface JobResult extends StoredResult {
  readonly job_id: string;
  readonly status: JobStatus;
  readonly stdout: string;
  readonly stderr: string;
}

/** The persistent record of a job. */
export interface JobRecord {
  readonly jobId: string;
  readonly controllerId: string;
  readonly status: JobStatus;
  readonly spec: JobSpec;
  readonly queueSeq: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly sandboxId: string | null;
  readonly result: StoredResult | null;
}
