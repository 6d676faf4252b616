/**
 * The Sandbox's error type, and the one place a raw dockerode/docker-modem failure is
 * classified: socket errors mean the engine is unavailable, 404 means "no such ...",
 * anything else is a sandbox error. The Docker text goes into the message for the log;
 * the client never sees it. It knows nothing of HTTP: `internal/agent/errors.ts` decides
 * what a client is answered.
 */

/** Codes a Sandbox rejects with. */
export type SandboxErrorCode = 'IMAGE_MISSING' | 'DOCKER_UNAVAILABLE' | 'SANDBOX_ERROR';

/** A failure of the container engine or of one container. */
export class SandboxError extends Error {
  readonly code: SandboxErrorCode;
  constructor(code: SandboxErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SandboxError';
    this.code = code;
  }
}

/** Socket-level failures that mean the engine is not reachable at all. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

/** What a dockerode rejection tells us, narrowed from `unknown`. */
export interface DockerFailure {
  /** HTTP status of the engine's answer, or null when there was no answer. */
  readonly status: number | null;
  /** errno-style code of a socket error, or null. */
  readonly errno: string | null;
  /** The engine's own message, or the error's message. */
  readonly message: string;
}

function field(e: unknown, key: string): unknown {
  return typeof e === 'object' && e !== null ? (e as Record<string, unknown>)[key] : undefined;
}

/** Narrows any rejection from dockerode into status / errno / message. */
export function dockerFailure(e: unknown): DockerFailure {
  const status = field(e, 'statusCode');
  const code = field(e, 'code');
  const json = field(e, 'json');
  const engineMessage = field(json, 'message');
  const message =
    typeof engineMessage === 'string' ? engineMessage
    : e instanceof Error ? e.message
    : String(e);
  return {
    status: typeof status === 'number' ? status : null,
    errno: typeof code === 'string' ? code : null,
    message: message.trim(),
  };
}

/** True when the engine answered 404 (no such container / image). */
export function isNotFound(e: unknown): boolean {
  return dockerFailure(e).status === 404;
}

/** True when the failure is the socket, not the engine's answer. */
export function isConnectionError(e: unknown): boolean {
  const f = dockerFailure(e);
  return f.status === null && f.errno !== null && CONNECTION_CODES.has(f.errno);
}

/** Wraps a dockerode rejection as a SandboxError; a SandboxError passes through unchanged. */
export function toSandboxError(e: unknown, doing: string): SandboxError {
  if (e instanceof SandboxError) return e;
  const f = dockerFailure(e);
  if (isConnectionError(e)) {
    return new SandboxError('DOCKER_UNAVAILABLE', `docker engine unavailable while ${doing}: ${f.errno ?? ''} ${f.message}`.trim(), { cause: e });
  }
  const status = f.status === null ? '' : ` (HTTP ${f.status})`;
  return new SandboxError('SANDBOX_ERROR', `docker error while ${doing}${status}: ${f.message}`, { cause: e });
}
