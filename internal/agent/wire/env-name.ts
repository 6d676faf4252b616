/**
 * The rule for a job's environment variable names (SPEC §3 `candidate_metadata.sandbox.env`),
 * once for both sides: the agent refuses a payload that breaks it, the controller refuses
 * an --env that breaks it.
 */

/** Longest variable name, in characters. */
export const MAX_ENV_NAME_LENGTH = 128;

/** A name a shell and Docker both read as one variable, at most MAX_ENV_NAME_LENGTH long. */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** True when `v` may name a job's environment variable. */
export function isEnvName(v: string): boolean {
  return ENV_NAME_RE.test(v);
}
