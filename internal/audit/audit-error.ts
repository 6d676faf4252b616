/**
 * The audit log's own errors. It knows nothing of HTTP: `internal/agent/errors.ts` decides
 * what a client is answered for each code.
 */

/** Codes the audit log fails with: storage (fail closed) or a caller's bug. */
export type AuditErrorCode = 'AUDIT_UNAVAILABLE' | 'INTERNAL';

/** A failure of the audit log; `cause` is what failed underneath. */
export class AuditError extends Error {
  readonly code: AuditErrorCode;
  constructor(code: AuditErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AuditError';
    this.code = code;
  }
}

/**
 * The row could not be written (read-only file, lock timeout, full disk, closed
 * connection): callers must fail closed on it.
 */
export class AuditUnavailableError extends AuditError {
  declare readonly code: 'AUDIT_UNAVAILABLE';
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('AUDIT_UNAVAILABLE', message, opts);
    this.name = 'AuditUnavailableError';
  }
}
