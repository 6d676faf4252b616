/**
 * The job id rule (SPEC §3), once for both sides: the agent refuses a payload that breaks
 * it, the controller refuses a --job-id that breaks it. An id becomes a Docker label and
 * a URL segment, hence the narrow alphabet.
 */

/** Longest job_id / controller_id, in characters. */
export const MAX_ID_LENGTH = 256;

/** The alphabet of a job id. */
export const JOB_ID_RE = /^[A-Za-z0-9._:-]+$/;

/** True for a usable job id: the alphabet, at most MAX_ID_LENGTH, and not "." or ".." (URL normalisation would rewrite them). */
export function isJobId(v: string): boolean {
  return JOB_ID_RE.test(v) && v !== '.' && v !== '..' && v.length <= MAX_ID_LENGTH;
}
