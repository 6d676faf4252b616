/**
 * Job states (SPEC §4), defined once for both sides of the wire: the agent's job model
 * and state machine (`jobs/job.ts`) and the controller's reading of answers and frames.
 */

/** The states, in the order of SPEC §4. */
export const JOB_STATES = ['pending', 'running', 'completed', 'failed', 'cancelled', 'rejected'] as const;

/** Job states (SPEC §4). */
export type JobStatus = (typeof JOB_STATES)[number];

/** Terminal states: a job in one never changes again. */
export type TerminalStatus = Exclude<JobStatus, 'pending' | 'running'>;

/** True for completed, failed, cancelled and rejected. */
export function isTerminal(s: JobStatus): s is TerminalStatus {
  switch (s) {
    case 'pending':
    case 'running':
      return false;
    case 'completed':
    case 'failed':
    case 'cancelled':
    case 'rejected':
      return true;
  }
}

/** The JobStatus `v` names, or null when it names none. */
export function asJobStatus(v: unknown): JobStatus | null {
  switch (v) {
    case 'pending':
    case 'running':
    case 'completed':
    case 'failed':
    case 'cancelled':
    case 'rejected':
      return v;
    default:
      return null;
  }
}
