/**
 * Errors of the controller side. A ControllerError is what a person reads: one line naming
 * the agent, what went wrong and the agent's own `code` (or a client-side code such as
 * UNREACHABLE or TLS_VERIFY_FAILED when the agent never answered). A SettingsError is a
 * usage or configuration mistake on this side (exit 2).
 */

/** Codes this side assigns when the agent itself gave none. */
export type ClientErrorCode = 'UNREACHABLE' | 'TLS_VERIFY_FAILED' | 'TLS_ERROR' | 'TIMEOUT' | 'BAD_RESPONSE' | 'STREAM_FAILED' | 'AGENT_OFFLINE' | 'BROKER_UNREACHABLE';

/** A failure talking to one agent. */
export class ControllerError extends Error {
  /** The agent's `code` from its `{"error","code"}` body, or a ClientErrorCode. */
  readonly code: string;
  /** HTTP status when the agent answered, else null. */
  readonly status: number | null;
  /** Display name of the agent (config name or URL). */
  readonly agent: string;
  /** Seconds from a Retry-After header (429 QUEUE_FULL), else null. */
  readonly retryAfterSeconds: number | null;

  constructor(agent: string, code: string, message: string, opts: { status?: number; retryAfterSeconds?: number | null; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ControllerError';
    this.agent = agent;
    this.code = code;
    this.status = opts.status ?? null;
    this.retryAfterSeconds = opts.retryAfterSeconds ?? null;
  }

  /** One line for a person: agent, message, a hint for the common fixes, and the code. */
  describe(): string {
    const hint = hintFor(this);
    const line = `agent ${this.agent}: ${this.message}${hint === '' ? '' : `; ${hint}`} (${this.code})`;
    return line.replace(/\s+/g, ' ');
  }
}

/** A usage or configuration error on the controller side: printed with the usage, exit 2. */
export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

function hintFor(e: ControllerError): string {
  switch (e.code) {
    case 'TLS_VERIFY_FAILED':
      return "pass --ca-file with the agent's CA or certificate";
    case 'TLS_ERROR':
      return /certificate.required|handshake.failure/i.test(e.message) ? 'the agent wants a client certificate: pass --cert and --key' : '';
    case 'INVALID_SIGNATURE':
    case 'UNAUTHENTICATED':
      return 'check --controller-id and --secret-file against the agent config';
    case 'CONTROLLER_NOT_ALLOWED':
      return "add this controller id to the agent's allowed_controllers";
    case 'JOB_EXPIRED':
    case 'JOB_TOO_OLD':
    case 'JOB_FROM_FUTURE':
      return "check this host's clock against the agent's";
    case 'QUEUE_FULL':
      return e.retryAfterSeconds === null ? 'retry later' : `retry in ${e.retryAfterSeconds}s`;
    case 'DUPLICATE_JOB':
      return 'use a new --job-id';
    default:
      return '';
  }
}

const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED']);

function errnoCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null || !('code' in e)) return undefined;
  const code = (e as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** OpenSSL's `…:error:0A00045C:SSL routines:fn:reason:file:line:…` → `reason`; always one line. */
function readable(msg: string): string {
  const ssl = /SSL routines:[^:]*:([^:]+):/.exec(msg);
  return (ssl?.[1] ?? msg).replace(/\s+/g, ' ').trim();
}

/** Turn a socket or TLS failure into a ControllerError with a client-side code. */
export function networkError(agent: string, e: unknown): ControllerError {
  if (e instanceof ControllerError) return e;
  const code = errnoCode(e) ?? '';
  const msg = readable(e instanceof Error ? e.message : String(e));
  if (TLS_VERIFY_CODES.has(code)) return new ControllerError(agent, 'TLS_VERIFY_FAILED', `TLS verification failed: ${msg}`, { cause: e });
  if (code.startsWith('ERR_SSL') || code === 'EPROTO' || code.startsWith('ERR_TLS')) {
    return new ControllerError(agent, 'TLS_ERROR', `TLS handshake failed: ${msg}`, { cause: e });
  }
  if (UNREACHABLE_CODES.has(code)) return new ControllerError(agent, 'UNREACHABLE', `cannot reach the agent: ${msg}`, { cause: e });
  return new ControllerError(agent, 'UNREACHABLE', `request failed: ${msg}`, { cause: e });
}
