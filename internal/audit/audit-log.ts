/**
 * The audit capability the rest of the agent writes through. The SQLite implementation
 * (`audit-store.ts`) chains every row to the previous one with SHA-256.
 */

/** Every audit event type (SPEC §7). */
export type AuditEventType =
  | 'agent.started'
  | 'agent.stopped'
  | 'config.reloaded'
  | 'broker.connected'
  | 'job.rejected'
  | 'job.accepted'
  | 'job.started'
  | 'job.finished'
  | 'job.cancelled'
  | 'request.unauthenticated'
  | 'requests.coalesced'
  | 'request.rejected'
  | 'schedule.skipped'
  | 'schedule.missed';

/** What a caller records. Secrets, signature bytes and request bodies never go in `details`. */
export interface AuditEventInput {
  readonly type: AuditEventType;
  readonly jobId?: string | null;
  readonly controllerId?: string | null;
  readonly remoteAddr?: string | null;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A stored, chained event. */
export interface AuditRecord {
  readonly seq: number;
  /** RFC 3339 UTC with milliseconds. */
  readonly ts: string;
  readonly type: AuditEventType;
  readonly jobId: string | null;
  readonly controllerId: string | null;
  readonly remoteAddr: string | null;
  readonly details: Record<string, unknown>;
  readonly prevHash: string;
  readonly hash: string;
}

/** Append-only audit log. */
export interface AuditLog {
  /**
   * Append one event synchronously (may run inside a caller's transaction on the same
   * connection). Throws AuditUnavailableError if the row cannot be written.
   */
  append(event: AuditEventInput): AuditRecord;
  /** False after a failed write, until a later write or probe succeeds. */
  healthy(): boolean;
  /** Record that a write on the same database failed (e.g. the transaction holding an append). */
  markFailed(): void;
  /** Try a write-ahead probe (BEGIN IMMEDIATE/ROLLBACK) and update health; returns it. */
  probe(): boolean;
  /**
   * Queue a rejection event for a group commit at the end of this event-loop turn (one
   * transaction for all of them, chained in call order): a flood of forged requests then
   * costs one commit per turn, not one per request. Only rejections: they cause no side
   * effect, so a crash in the same turn can lose at most unaudited refusals, never an
   * unaudited job. When the buffer is full the event is written synchronously; throws
   * AUDIT_UNAVAILABLE only then, if it cannot be written. While the database fails the
   * backlog is bounded (rows and bytes) and retried off the request path; what does not
   * fit is counted and written as `requests.coalesced` rows once space returns. A
   * `stranger` (unsigned, forged, unauthenticated) event is written verbatim only within a
   * small burst per remote address and minute; beyond, it is counted the same way.
   */
  appendBatched(event: AuditEventInput & { readonly type: BatchedAuditEventType; readonly stranger?: boolean }): void;
  /** Write every queued event now (before closing the database). Throws AUDIT_UNAVAILABLE if they cannot be written. */
  flush(): void;
  /** Events waiting to be written (rows, bytes) and counted for a summary row. */
  readonly backlog: () => AuditBacklog;
  /** Health as of the next recheck while unhealthy (at most about a second), at once when healthy; never writes. */
  readonly checked: () => Promise<boolean>;
  /** Stop the retry timer and write what is queued; throws AUDIT_UNAVAILABLE naming what was lost. Idempotent. */
  readonly close: () => void;
}

/** What the audit holds that is not yet in the chain. */
export interface AuditBacklog {
  readonly rows: number;
  readonly bytes: number;
  /** Events counted (not kept row by row) that a summary row will carry. */
  readonly counted: number;
}

/** Event types that may be group-committed (never job.accepted or anything a job depends on). */
export type BatchedAuditEventType = 'job.rejected' | 'request.unauthenticated' | 'request.rejected';
