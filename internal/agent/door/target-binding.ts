/**
 * Target binding (SPEC §10): `candidate_metadata.target_agent` (signed with the job) names
 * the one agent the job is for. A job naming another agent is refused, so a job signed for
 * one host cannot be replayed to another that trusts the same controller; a job that
 * must be bound (every job through the broker) and names none is refused the same way.
 */
import { RejectionError } from '../errors.js';
import type { JobPayload } from '../wire/payload.js';

/** Throw TARGET_MISMATCH (403) unless the payload is for `agentName`. */
export function checkTarget(p: JobPayload, agentName: string, required: boolean): void {
  const raw = p.candidateMetadata?.['target_agent'];
  if (raw === undefined || raw === null) {
    if (required) throw new RejectionError('TARGET_MISMATCH', 'job is not bound to this agent', 'no candidate_metadata.target_agent on a job that must name its agent');
    return;
  }
  if (typeof raw !== 'string') throw new RejectionError('INVALID_PAYLOAD', 'payload.candidate_metadata.target_agent must be a string');
  if (raw !== agentName) throw new RejectionError('TARGET_MISMATCH', 'job is not bound to this agent', `target_agent ${JSON.stringify(raw.slice(0, 80))} is not ${JSON.stringify(agentName)}`);
}
