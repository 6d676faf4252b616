/**
 * The one error family of the agent. Every failure that can reach a client is an
 * AgentError carrying a wire `code`, an HTTP `status`, and `expose` (whether its message
 * may be shown to the client). One middleware turns them into `{"error","code"}`.
 * The sandbox and the audit log own their errors (SandboxError, AuditUnavailableError)
 * and know nothing of HTTP; `asAgentError` is the one place any error gets its status.
 */
import { AuditError } from '../audit/audit-error.js';
import { SandboxError } from '../sandbox/sandbox-error.js';

/** Every error code the agent can answer with (SPEC §3, plus a few operational ones). */
export type ErrorCode =
  | 'INVALID_JSON'
  | 'INVALID_PAYLOAD'
  | 'INVALID_PARAMETER'
  | 'MALFORMED_REQUEST'
  | 'REQUEST_TIMEOUT'
  | 'HEADERS_TOO_LARGE'
  | 'INVALID_SIGNATURE'
  | 'JOB_EXPIRED'
  | 'JOB_TOO_OLD'
  | 'JOB_FROM_FUTURE'
  | 'TTL_TOO_LONG'
  | 'UNAUTHENTICATED'
  | 'CONTROLLER_NOT_ALLOWED'
  | 'INSUFFICIENT_SCOPES'
  | 'COMMAND_NOT_ALLOWED'
  | 'IMAGE_NOT_ALLOWED'
  | 'RUNTIME_NOT_ALLOWED'
  | 'LIMIT_EXCEEDED'
  | 'FORBIDDEN'
  | 'TARGET_MISMATCH'
  | 'JOB_NOT_FOUND'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'DUPLICATE_JOB'
  | 'JOB_FINISHED'
  | 'REQUEST_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'QUEUE_FULL'
  | 'SHUTTING_DOWN'
  | 'SERVER_BUSY'
  | 'TOO_MANY_FOLLOWERS'
  | 'DOCKER_UNAVAILABLE'
  | 'AUDIT_UNAVAILABLE'
  | 'IMAGE_MISSING'
  | 'SANDBOX_ERROR'
  | 'CONFIG_INVALID'
  | 'INTERNAL';

/** HTTP status for each code; the single source of truth for the mapping. */
export function statusFor(code: ErrorCode): number {
  switch (code) {
    case 'INVALID_JSON':
    case 'INVALID_PAYLOAD':
    case 'INVALID_PARAMETER':
    case 'MALFORMED_REQUEST':
      return 400;
    case 'REQUEST_TIMEOUT':
      return 408;
    case 'HEADERS_TOO_LARGE':
      return 431;
    case 'INVALID_SIGNATURE':
    case 'JOB_EXPIRED':
    case 'JOB_TOO_OLD':
    case 'JOB_FROM_FUTURE':
    case 'TTL_TOO_LONG':
    case 'UNAUTHENTICATED':
      return 401;
    case 'CONTROLLER_NOT_ALLOWED':
    case 'INSUFFICIENT_SCOPES':
    case 'COMMAND_NOT_ALLOWED':
    case 'IMAGE_NOT_ALLOWED':
    case 'RUNTIME_NOT_ALLOWED':
    case 'LIMIT_EXCEEDED':
    case 'FORBIDDEN':
    case 'TARGET_MISMATCH':
      return 403;
    case 'JOB_NOT_FOUND':
    case 'NOT_FOUND':
      return 404;
    case 'METHOD_NOT_ALLOWED':
      return 405;
    case 'DUPLICATE_JOB':
    case 'JOB_FINISHED':
      return 409;
    case 'REQUEST_TOO_LARGE':
      return 413;
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 415;
    case 'QUEUE_FULL':
      return 429;
    case 'SHUTTING_DOWN':
    case 'SERVER_BUSY':
    case 'TOO_MANY_FOLLOWERS':
    case 'DOCKER_UNAVAILABLE':
    case 'AUDIT_UNAVAILABLE':
      return 503;
    case 'IMAGE_MISSING':
    case 'SANDBOX_ERROR':
    case 'CONFIG_INVALID':
    case 'INTERNAL':
      return 500;
  }
}

/** Body of every error answer, on every transport: `{"error","code"}` (SPEC §3). */
export interface ErrorBody {
  readonly error: string;
  readonly code: string;
}

/** Base class: `code` for the wire, `status` for HTTP, `expose` says the message is client-safe. */
export class AgentError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  /** Extra response headers (e.g. Retry-After on QUEUE_FULL). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; expose?: boolean; headers?: Record<string, string> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AgentError';
    this.code = code;
    this.status = statusFor(code);
    // 5xx details never reach a client unless a caller explicitly vouches for the text.
    this.expose = opts.expose ?? this.status < 500;
    this.headers = opts.headers ?? {};
  }
}

/**
 * A rejection at the door: the client sees `publicMessage`, the audit log gets `reason`
 * (the exact mismatch), following buildkite's verify_job: specific to the log, generic out.
 */
export class RejectionError extends AgentError {
  /** Precise reason for the audit log; never sent to the client. */
  readonly reason: string;
  constructor(code: ErrorCode, publicMessage: string, reason?: string, headers?: Record<string, string>) {
    // Rejections are expected and can come in floods; a stack trace says nothing about
    // them and capturing one was a measurable share of the cost of refusing a request.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(code, publicMessage, { headers });
    Error.stackTraceLimit = limit;
    this.name = 'RejectionError';
    this.reason = reason ?? publicMessage;
  }
}

/** Configuration problem: names the key; the agent refuses to start (exit 2). */
export class ConfigError extends AgentError {
  /** Dotted path of the offending key, e.g. `controllers.0.secrets`. */
  readonly key: string;
  constructor(key: string, reason: string) {
    super('CONFIG_INVALID', `config: ${key}: ${reason}`, { expose: true });
    this.name = 'ConfigError';
    this.key = key;
  }
}

/** Shorthand for `instanceof AgentError`. */
export function isAgentError(e: unknown): e is AgentError {
  return e instanceof AgentError;
}

/**
 * The one mapping from a thrown error to what a client is answered (code, status, expose,
 * headers), for every transport: an AgentError as it is, a SandboxError or
 * AuditError as the AgentError of its code (detail never exposed, the original
 * kept as `cause`; AuditError covers AuditUnavailableError), anything else null (the caller answers INTERNAL).
 */
export function asAgentError(e: unknown): AgentError | null {
  if (e instanceof AgentError) return e;
  if (e instanceof SandboxError) return new AgentError(e.code, e.message, { cause: e, expose: false });
  if (e instanceof AuditError) return new AgentError(e.code, e.message, { cause: e, expose: false });
  return null;
}
