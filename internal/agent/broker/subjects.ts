/**
 * The broker's subject names (SPEC §10), one place for agent, controller, permissions and
 * tests. Agent names are single lower-case tokens (AGENT_NAME_PATTERN), so no subject
 * built here can contain a wildcard or a separator the name did not intend.
 */

/** Agent names as they appear in subjects: one lower-case NATS token. */
export const AGENT_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Every QuickCMD subject starts with this. */
export const SUBJECT_PREFIX = 'quickcmd.v1';
/** Scatter-gather discovery: every agent answers. */
export const DISCOVER_SUBJECT = `${SUBJECT_PREFIX}.discover`;
/** Prefix of a controller's reply inboxes: `_QC_INBOX.<controller id>.…`. */
export const CONTROLLER_INBOX_ROOT = '_QC_INBOX';
/** Prefix of an agent's reply inboxes (JetStream API answers for its inbox consumer). */
export const AGENT_INBOX_ROOT = '_QC_AGENT';
/** Controller ids that can be a broker user (one subject token). */
export const BROKER_CONTROLLER_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Signed job submissions to `agent`. */
export function submitSubject(agent: string): string {
  return `${SUBJECT_PREFIX}.${agent}.submit`;
}

/** Signed requests (status, cancel, frames, every other route) to `agent`. */
export function rpcSubject(agent: string): string {
  return `${SUBJECT_PREFIX}.${agent}.rpc`;
}

/** Heartbeats of `agent`. */
export function heartbeatSubject(agent: string): string {
  return `${SUBJECT_PREFIX}.${agent}.hb`;
}

/** Live frames of one job. */
export function outSubject(agent: string, jobId: string): string {
  return `${SUBJECT_PREFIX}.${agent}.out.${jobId}`;
}

/** The offline inbox of `agent` (issue 14). */
export function inboxSubject(agent: string): string {
  return `${SUBJECT_PREFIX}.${agent}.inbox`;
}

/** Reply-inbox prefix of an agent: `_QC_AGENT.<agent>`. */
export function agentInboxPrefix(agent: string): string {
  return `${AGENT_INBOX_ROOT}.${agent}`;
}

/** Reply-inbox prefix of a controller. */
export function controllerInboxPrefix(controllerId: string): string {
  return `${CONTROLLER_INBOX_ROOT}.${controllerId}`;
}

/** True when a job id can be one subject token (no `.`, `*`, `>` or whitespace). */
export function isSubjectToken(s: string): boolean {
  return s.length > 0 && s.length <= 256 && /^[^.*>\s]+$/.test(s);
}

/**
 * Who sent a request, as far as the broker routes it: the controller whose inbox receives
 * the answer (only that broker user may subscribe there), else the raw reply subject.
 */
export function brokerIdentity(reply: string | undefined): string {
  if (reply === undefined || reply === '') return 'nats:(no reply subject)';
  const m = /^_QC_INBOX\.([A-Za-z0-9_-]{1,128})\./.exec(reply);
  return m !== null ? `nats:${m[1] as string}` : `nats:reply=${reply.slice(0, 80)}`;
}

/** The discovery and heartbeat document (not sealed: nothing secret in it). */
export interface AgentPresence {
  readonly agent: string;
  readonly version: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly running: number;
  readonly queued: number;
  readonly max_concurrent_jobs: number;
  readonly started_at: string;
}
